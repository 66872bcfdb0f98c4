"""MetaNIM Arena game engines (paper §3 "MetaNIM Arena"; official repo's stand-alone game scripts).

Every game is impartial, two-player, perfect-information and finite. A :class:`Game` is stateless: states are
small immutable, hashable tuples, so solvers can memoise on them. Each game provides

- ``start()``: the paper's start position (always a first-player win, the evaluated agent moves first);
- ``legal_moves(s)``, ``apply(s, m)``, ``is_terminal(s)`` and ``last_mover_wins`` (normal vs misère ending);
- a text rendering for prompts (``rules()``, ``describe_state(s)``, ``action_format()``) in our own wording;
- ``parse_action(value)``: a move from the ``action`` field of a model's JSON answer (never ``eval``);
- ``parse_state(text)``: the inverse of ``describe_state`` (used by the scripted mock LLM to read prompts).

Moves are ints (take-away games) or int tuples (Kayles pins, Chomp cells, Corner Queen destinations), always in
the *engine's* coordinates as shown to the model.

Decisions on the official engines' quirks (README, "Deviations"):
- Fibonacci NIM: the first move is limited to 1..n-1 (the official engine accepts taking the whole pile although
  its prompt forbids it; we enforce the prompt's rule).
- NIM: a move outside 1..min(k, n) is illegal here; the arena's ``official`` invalid-move policy clamps it into
  [1, min(k, n)] like the official engine (which sometimes hard-codes 3 where k differs; we clamp to k).
- Chomp (square) uses the engine's orientation everywhere: origin bottom-left, poison at (N-1, N-1), a pick (r, c)
  removes every cell with row <= r and col <= c (one official baseline prompt describes another orientation).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any

Move = Hashable
State = Hashable

__all__ = [
    "Game", "Nim", "FibonacciNim", "Kayles", "Chomp", "CornerQueen", "IllegalMove",
    "GAME_NAMES", "PAPER_GAMES", "make_game", "identify_game", "ints_in",
]


class IllegalMove(ValueError):
    pass


_INT = re.compile(r"-?\d+")


def ints_in(value: Any) -> list[int] | None:
    """Integers in a JSON ``action`` value: an int, a list of ints, or a string such as "3", "[9, 10]", "(3,3)".

    Returns None when the value holds no integer (or holds a non-integral float / bool)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return [value]
    if isinstance(value, float):
        return [int(value)] if value.is_integer() else None
    if isinstance(value, (list, tuple)):
        out: list[int] = []
        for v in value:
            sub = ints_in(v)
            if sub is None:
                return None
            out.extend(sub)
        return out or None
    if isinstance(value, dict):  # e.g. {"row": 3, "col": 3} or {"take": 2}
        return ints_in(list(value.values()))
    if isinstance(value, str):
        found = [int(x) for x in _INT.findall(value)]
        return found or None
    return None


class Game(ABC):
    """One MetaNIM Arena game. Subclasses set ``name`` (registry key) and ``title`` (shown in prompts)."""

    name: str = ""
    title: str = ""
    last_mover_wins: bool = True  # normal play; misère / poison games set False

    # ---- rules --------------------------------------------------------------------------------------
    @abstractmethod
    def start(self) -> State: ...

    @abstractmethod
    def legal_moves(self, s: State) -> list[Move]: ...

    @abstractmethod
    def _apply(self, s: State, m: Move) -> State: ...

    @abstractmethod
    def is_terminal(self, s: State) -> bool: ...

    def is_legal(self, s: State, m: Move) -> bool:
        try:
            return m in set(self.legal_moves(s))
        except TypeError:  # unhashable
            return False

    def apply(self, s: State, m: Move) -> State:
        if not self.is_legal(s, m):
            raise IllegalMove(f"{self.name}: move {m!r} is not legal in state {s!r}")
        return self._apply(s, m)

    def winner_of(self, terminal: State, last_mover: int) -> int:
        """Player (1 or 2) who won when ``last_mover`` produced the ``terminal`` state."""
        if not self.is_terminal(terminal):
            raise ValueError("state is not terminal")
        return last_mover if self.last_mover_wins else 3 - last_mover

    # ---- text ---------------------------------------------------------------------------------------
    @abstractmethod
    def rules(self) -> str: ...

    @abstractmethod
    def describe_state(self, s: State) -> str: ...

    @abstractmethod
    def action_format(self) -> str: ...

    @abstractmethod
    def parse_action(self, value: Any) -> Move | None: ...

    @abstractmethod
    def parse_state(self, text: str) -> State | None: ...

    def move_to_json(self, m: Move) -> Any:
        return list(m) if isinstance(m, tuple) else m

    def move_from_json(self, v: Any) -> Move:
        return tuple(v) if isinstance(v, list) else v

    def state_to_json(self, s: State) -> Any:
        return _listify(s)

    def state_from_json(self, v: Any) -> State:
        return _tuplify(v)

    def objective(self) -> str:
        return ("You are the player to move. Play the move that guarantees a win against a perfect opponent "
                "whenever one exists.")

    def prompt(self, s: State) -> str:
        """The raw game prompt (role, objective, rules, current state, task) in our own wording."""
        return (
            f"Game: {self.title}\n"
            "You are an expert player of two-player combinatorial games.\n"
            f"Objective: {self.objective()}\n"
            f"Rules:\n{self.rules()}\n"
            f"Current state:\n{self.describe_state(s)}\n"
            f"Task: choose your next move. Action format: {self.action_format()}"
        )

    def params(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.params().items())})"


def _listify(x: Any) -> Any:
    return [_listify(v) for v in x] if isinstance(x, (tuple, list)) else x


def _tuplify(x: Any) -> Any:
    return tuple(_tuplify(v) for v in x) if isinstance(x, (tuple, list)) else x


# ------------------------------------------------------------------------------------------------------
# NIM (one pile, take 1..k), normal and misère. Official: nim_normal.py / nim_mis.py, 31 items, k = 3.
# ------------------------------------------------------------------------------------------------------
class Nim(Game):
    """Single-pile subtraction game. State ``(n,)``; move = number of items taken, 1..min(k, n)."""

    def __init__(self, n: int = 31, k: int = 3, misere: bool = False):
        if n < 1 or k < 1:
            raise ValueError("NIM needs n >= 1 and k >= 1")
        self.n, self.k, self.misere = n, k, misere
        self.name = "nim_misere" if misere else "nim"
        self.title = "NIM (misère: whoever takes the last item loses)" if misere else "NIM (whoever takes the last item wins)"
        self.last_mover_wins = not misere

    def params(self):
        return {"n": self.n, "k": self.k, "misere": self.misere}

    def start(self):
        return (self.n,)

    def legal_moves(self, s):
        return list(range(1, min(self.k, s[0]) + 1))

    def _apply(self, s, m):
        return (s[0] - m,)

    def is_terminal(self, s):
        return s[0] == 0

    def clamp(self, s, m: int) -> int:
        """The official NIM engine's treatment of an out-of-range take: clamp into [1, min(k, n)]."""
        return max(1, min(int(m), self.k, s[0]))

    def rules(self):
        end = "takes the last item LOSES" if self.misere else "takes the last item WINS"
        return (f"- There is one pile of items. Players alternate turns.\n"
                f"- On a turn a player must take between 1 and {self.k} items from the pile.\n"
                f"- The player who {end}.")

    def describe_state(self, s):
        return f"Items remaining in the pile: {s[0]}. You may take between 1 and {min(self.k, s[0])} items."

    def action_format(self):
        return "an integer, the number of items to take."

    def parse_action(self, value):
        xs = ints_in(value)
        return xs[0] if xs else None

    def parse_state(self, text):
        m = re.search(r"Items remaining in the pile: (\d+)", text)
        return (int(m.group(1)),) if m else None


# ------------------------------------------------------------------------------------------------------
# Fibonacci NIM. Official: fibonacci_normal.py / fibonacci_mis.py, 20 stones.
# ------------------------------------------------------------------------------------------------------
class FibonacciNim(Game):
    """State ``(n, max_take)``. The first move takes 1..n-1 (start state ``(n, n-1)``); afterwards a player may
    take 1..min(2 * previous take, n), so the next state after taking t is ``(n - t, min(2t, n - t))``."""

    def __init__(self, n: int = 20, misere: bool = False):
        if n < 2:
            raise ValueError("Fibonacci NIM needs n >= 2 (the first move may not take the whole pile)")
        self.n, self.misere = n, misere
        self.name = "fibonacci_misere" if misere else "fibonacci"
        self.title = ("Fibonacci NIM (misère: whoever takes the last stone loses)" if misere
                      else "Fibonacci NIM (whoever takes the last stone wins)")
        self.last_mover_wins = not misere

    def params(self):
        return {"n": self.n, "misere": self.misere}

    def start(self):
        return (self.n, self.n - 1)

    def legal_moves(self, s):
        n, mx = s
        return list(range(1, min(mx, n) + 1))

    def _apply(self, s, m):
        r = s[0] - m
        return (r, min(2 * m, r))

    def is_terminal(self, s):
        return s[0] == 0

    def rules(self):
        end = "takes the last stone LOSES" if self.misere else "takes the last stone WINS"
        return ("- There is one pile of stones. Players alternate turns.\n"
                "- The first player may take any number of stones on the first move, but not the whole pile.\n"
                "- After that, a player may take at least 1 and at most twice the number of stones the opponent "
                "took on the previous move.\n"
                f"- The player who {end}.")

    def describe_state(self, s):
        return f"Stones remaining: {s[0]}. On this move you may take between 1 and {min(s[1], s[0])} stones."

    def action_format(self):
        return "an integer, the number of stones to take."

    def parse_action(self, value):
        xs = ints_in(value)
        return xs[0] if xs else None

    def parse_state(self, text):
        m = re.search(r"Stones remaining: (\d+)\. On this move you may take between 1 and (\d+)", text)
        return (int(m.group(1)), int(m.group(2))) if m else None


# ------------------------------------------------------------------------------------------------------
# Kayles (one row). Official: kayles.py, 20 pins, 0-based indices, 0/1 string.
# ------------------------------------------------------------------------------------------------------
class Kayles(Game):
    """State: tuple of 0/1 (pin standing). Move: ``(i,)`` knocks pin i, ``(i, i+1)`` knocks two adjacent standing
    pins. Whoever removes the last pin wins."""

    def __init__(self, n: int = 20):
        if n < 1:
            raise ValueError("Kayles needs n >= 1 pins")
        self.n = n
        self.name = "kayles"
        self.title = "Kayles (whoever knocks down the last pin wins)"

    def params(self):
        return {"n": self.n}

    def start(self):
        return (1,) * self.n

    def legal_moves(self, s):
        out: list[Move] = []
        for i, v in enumerate(s):
            if v:
                out.append((i,))
                if i + 1 < len(s) and s[i + 1]:
                    out.append((i, i + 1))
        return out

    def _apply(self, s, m):
        t = list(s)
        for i in m:
            t[i] = 0
        return tuple(t)

    def is_terminal(self, s):
        return not any(s)

    def rules(self):
        return ("- Pins stand in a row, shown as a string of 1 (standing) and 0 (knocked down); positions are "
                "numbered from 0 on the left.\n"
                "- On a turn a player knocks down either one standing pin, or two standing pins that are "
                "directly next to each other.\n"
                "- The player who knocks down the last standing pin WINS.")

    def describe_state(self, s):
        return f"Pins: {''.join(str(v) for v in s)} (length {len(s)})."

    def action_format(self):
        return "a list with one pin index, e.g. [4], or two adjacent pin indices, e.g. [4, 5]."

    def parse_action(self, value):
        xs = ints_in(value)
        if not xs or len(xs) > 2:
            return None
        return tuple(sorted(xs))

    def parse_state(self, text):
        m = re.search(r"Pins: ([01]+)", text)
        return tuple(int(c) for c in m.group(1)) if m else None


# ------------------------------------------------------------------------------------------------------
# Chomp. Official: chomp_square.py (5x5, origin bottom-left, poison (N-1, N-1)) and chomp_tworow.py (2x8, poison
# (0, 0), row 0 the long row).
# ------------------------------------------------------------------------------------------------------
class Chomp(Game):
    """Chomp on a ``rows x cols`` board; whoever eats the poison loses.

    ``orientation="square"`` (chomp_square.py): origin bottom-left, poison at (rows-1, cols-1), picking (r, c)
    removes every remaining cell with row <= r and col <= c. ``orientation="tworow"`` (chomp_tworow.py): poison at
    (0, 0), picking (r, c) removes every remaining cell with row >= r and col >= c.

    Internally the state is a Young diagram in *poison-at-origin* coordinates: a non-increasing tuple of row
    lengths (row R holds cells C < lengths[R]); engine cells are mapped in and out of it.
    """

    last_mover_wins = False

    def __init__(self, rows: int = 5, cols: int = 5, orientation: str = "square"):
        if rows < 1 or cols < 1:
            raise ValueError("Chomp needs a non-empty board")
        if orientation not in ("square", "tworow"):
            raise ValueError(f"unknown Chomp orientation {orientation!r} (square|tworow)")
        self.rows, self.cols, self.orientation = rows, cols, orientation
        self.name = "chomp" if orientation == "square" else "chomp_tworow"
        self.title = f"Chomp on a {rows}x{cols} board (whoever eats the poisoned cell loses)"
        self.flip = orientation == "square"

    def params(self):
        return {"rows": self.rows, "cols": self.cols, "orientation": self.orientation}

    # coordinates ------------------------------------------------------------------------------------
    def to_internal(self, cell: tuple[int, int]) -> tuple[int, int]:
        r, c = cell
        return (self.rows - 1 - r, self.cols - 1 - c) if self.flip else (r, c)

    def to_engine(self, cell: tuple[int, int]) -> tuple[int, int]:
        return self.to_internal(cell)  # the map is an involution

    @property
    def poison(self) -> tuple[int, int]:
        return self.to_engine((0, 0))

    def start(self):
        return (self.cols,) * self.rows

    def cells(self, s) -> list[tuple[int, int]]:
        """Remaining cells, engine coordinates, sorted."""
        return sorted(self.to_engine((R, C)) for R, length in enumerate(s) for C in range(length))

    def legal_moves(self, s):
        return self.cells(s)

    def _apply(self, s, m):
        R, C = self.to_internal(m)
        return chomp_internal(s, R, C)

    def is_terminal(self, s):
        return len(s) == 0

    def rules(self):
        if self.flip:
            geo = ("- Cells are (row, col) with (0, 0) at the bottom-left corner; the poisoned cell is "
                   f"({self.rows - 1}, {self.cols - 1}), the top-right corner.\n"
                   "- Picking a remaining cell (r, c) removes it together with every remaining cell (r', c') with "
                   "r' <= r and c' <= c.")
        else:
            geo = ("- Cells are (row, col); the poisoned cell is (0, 0); row 0 is printed first.\n"
                   "- Picking a remaining cell (r, c) removes it together with every remaining cell (r', c') with "
                   "r' >= r and c' >= c.")
        return ("- Players alternate picking one remaining cell of a chocolate bar.\n" + geo +
                "\n- The player who picks the poisoned cell LOSES.")

    def describe_state(self, s):
        have = set(self.cells(s))
        order = range(self.rows - 1, -1, -1) if self.flip else range(self.rows)
        lines = []
        for r in order:
            row = " ".join(("P" if (r, c) == self.poison else "#") if (r, c) in have else "." for c in range(self.cols))
            lines.append(f"row {r}: {row}")
        return ("Board (# = remaining cell, P = poisoned cell, . = eaten):\n" + "\n".join(lines) +
                f"\nRemaining cells: {len(have)}.")

    def action_format(self):
        return "a list [row, col] naming a remaining cell."

    def parse_action(self, value):
        xs = ints_in(value)
        return (xs[0], xs[1]) if xs and len(xs) == 2 else None

    def parse_state(self, text):
        rows = dict((int(r), line.split()) for r, line in re.findall(r"row (\d+): ([#P. ]+)", text))
        if len(rows) != self.rows:
            return None
        lengths = [0] * self.rows
        for r, toks in rows.items():
            for c, t in enumerate(toks):
                if t in "#P":
                    R, C = self.to_internal((r, c))
                    lengths[R] = max(lengths[R], C + 1)
        return tuple(x for x in lengths if x > 0)

    def state_from_cells(self, cells: Sequence[tuple[int, int]]) -> State:
        """Build a state from a set of remaining engine cells (must form a valid Chomp position)."""
        lengths = [0] * self.rows
        for cell in cells:
            R, C = self.to_internal(tuple(cell))
            lengths[R] = max(lengths[R], C + 1)
        s = tuple(x for x in lengths if x > 0)
        if sum(s) != len(set(map(tuple, cells))) or list(s) != sorted(s, reverse=True):
            raise ValueError("cells do not form a Chomp position")
        return s


def chomp_internal(s: tuple[int, ...], R: int, C: int) -> tuple[int, ...]:
    """Bite at (R, C) in poison-at-origin coordinates: rows >= R are cut to length <= C."""
    if R >= len(s) or C >= s[R]:
        raise IllegalMove(f"chomp: cell {(R, C)} already eaten")
    out = s[:R] + tuple(min(x, C) for x in s[R:])
    return tuple(x for x in out if x > 0)


# ------------------------------------------------------------------------------------------------------
# Corner Queen (Wythoff's game). Official: corner_queen.py, 16 (height) x 20 (width), queen at [4, 16], row 0 top,
# target [15, 0].
# ------------------------------------------------------------------------------------------------------
class CornerQueen(Game):
    """State ``(row, col)``; the queen moves any distance left, down (row + d) or diagonally down-left; moves are
    destination cells. Whoever moves the queen onto the bottom-left corner ``(height-1, 0)`` wins."""

    def __init__(self, height: int = 16, width: int = 20, start_row: int = 4, start_col: int = 16):
        if not (0 <= start_row < height and 0 <= start_col < width):
            raise ValueError("queen start must lie on the board")
        self.height, self.width, self.start_row, self.start_col = height, width, start_row, start_col
        self.name = "corner_queen"
        self.title = f"Corner Queen on a {height}x{width} board (whoever reaches the bottom-left corner wins)"

    def params(self):
        return {"height": self.height, "width": self.width, "start_row": self.start_row, "start_col": self.start_col}

    @property
    def target(self) -> tuple[int, int]:
        return (self.height - 1, 0)

    def start(self):
        return (self.start_row, self.start_col)

    def distances(self, s) -> tuple[int, int]:
        """(down, left) distances to the target corner."""
        return (self.height - 1 - s[0], s[1])

    def legal_moves(self, s):
        r, c = s
        down, left = self.distances(s)
        out = [(r + d, c) for d in range(1, down + 1)]
        out += [(r, c - d) for d in range(1, left + 1)]
        out += [(r + d, c - d) for d in range(1, min(down, left) + 1)]
        return out

    def _apply(self, s, m):
        return tuple(m)

    def is_terminal(self, s):
        return tuple(s) == self.target

    def rules(self):
        return (f"- A queen stands on a board with {self.height} rows (row 0 at the top, row {self.height - 1} at "
                f"the bottom) and {self.width} columns (column 0 at the left).\n"
                "- On a turn a player moves the queen any positive number of squares left (same row, smaller "
                "column), down (same column, larger row) or diagonally down-left (both at once, equal steps).\n"
                f"- The player who moves the queen onto the bottom-left corner [{self.height - 1}, 0] WINS.")

    def describe_state(self, s):
        return f"The queen is at [{s[0]}, {s[1]}] (row, column)."

    def action_format(self):
        return "a list [row, column], the square the queen moves to."

    def parse_action(self, value):
        xs = ints_in(value)
        return (xs[0], xs[1]) if xs and len(xs) == 2 else None

    def parse_state(self, text):
        m = re.search(r"The queen is at \[(\d+), (\d+)\]", text)
        return (int(m.group(1)), int(m.group(2))) if m else None


# ------------------------------------------------------------------------------------------------------
# Registry
# ------------------------------------------------------------------------------------------------------
GAME_NAMES = ("nim", "nim_misere", "fibonacci", "fibonacci_misere", "kayles", "chomp", "chomp_tworow", "corner_queen")
# the games a reviewer and the official README list for the paper (NIM, Fibonacci, Kayles, Chomp)
PAPER_GAMES = ("nim", "nim_misere", "fibonacci", "fibonacci_misere", "kayles", "chomp")


def make_game(name: str, **params: Any) -> Game:
    """Build a game by name with the paper's start position (override with ``params``)."""
    if name == "nim":
        return Nim(misere=False, **params)
    if name == "nim_misere":
        return Nim(misere=True, **params)
    if name == "fibonacci":
        return FibonacciNim(misere=False, **params)
    if name == "fibonacci_misere":
        return FibonacciNim(misere=True, **params)
    if name == "kayles":
        return Kayles(**params)
    if name == "chomp":
        p = {"rows": 5, "cols": 5, **params}
        return Chomp(orientation="square", **p)
    if name == "chomp_tworow":
        p = {"rows": 2, "cols": 8, **params}
        return Chomp(orientation="tworow", **p)
    if name == "corner_queen":
        return CornerQueen(**params)
    raise ValueError(f"unknown game {name!r}; known: {', '.join(GAME_NAMES)}")


_TITLE_RE = re.compile(r"^Game: (.+)$", re.M)


def identify_game(text: str, games: Sequence[Game]) -> Game | None:
    """The game whose title appears on the prompt's ``Game:`` line."""
    m = _TITLE_RE.search(text)
    if not m:
        return None
    for g in games:
        if g.title == m.group(1).strip():
            return g
    return None
