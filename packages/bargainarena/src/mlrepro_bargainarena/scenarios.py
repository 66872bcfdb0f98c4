"""The six BargainArena markets and their product catalogues (spec §2.1-§2.2), prompts in our own words.

Every product has three prices: the buyer's private budget ``P_budget`` (the most it may pay), the public list
price ``P_initial`` and the seller's private cost ``P_cost`` (its reservation price). The single-product table
and the multi-product table (4 variants per category, one of them the desired item, each with a fixed cosine
similarity to it) are the spec's tables; the prompt wording, the product feature blurbs and the opener are ours.

Markets: ``vanilla``, ``deceptive``, ``monopoly``, ``installment``, ``negative`` (single product) and ``several``
(multi-product). Which six the paper used is [INFERRED] (spec §2.2: the successor's 9 minus its 3 multi-product
combinations).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# --------------------------------------------------------------------------------------------------------
# Catalogues (spec §2.1)
# --------------------------------------------------------------------------------------------------------

#: product -> (P_budget, P_initial, P_cost)
SINGLE_PRICES: dict[str, tuple[float, float, float]] = {
    "Camera": (500, 550, 400),
    "Jacket": (100, 120, 70),
    "Smartphone": (800, 850, 600),
    "Shoes": (150, 160, 100),
    "Bicycle": (400, 450, 300),
    "Drone": (600, 620, 450),
    "Soccer Ball": (50, 55, 30),
    "Bag": (80, 90, 50),
    "Wine": (100, 110, 70),
    "Cup": (30, 35, 20),
}
PRODUCTS: list[str] = list(SINGLE_PRICES)


@dataclass(frozen=True)
class Variant:
    """One item of a multi-product category: selling price, seller cost, similarity to the desired item."""

    name: str
    price: float
    cost: float
    similarity: float
    features: str


#: category -> (category budget, [variants]); the variant with similarity 1.0 is the desired item.
#: The similarity numbers are the spec's (an unspecified embedding model); they are not recomputed.
#: Data quirk (spec §2.1): the authors' buyer-side camera inventory lists the Film Camera at $250 while the seller
#: side and the metric use $380; we use $380 everywhere.
MULTI_CATALOGUE: dict[str, tuple[float, list[Variant]]] = {
    "Camera": (500, [
        Variant("Digital Camera", 430, 300, 0.7783, "compact point-and-shoot, 20 MP sensor, 5x optical zoom"),
        Variant("Film Camera", 380, 250, 0.5748, "35 mm manual film body with a 50 mm prime lens"),
        Variant("DSLR Camera", 550, 400, 1.0, "24 MP interchangeable-lens body with an 18-55 mm kit lens"),
        Variant("Action Camera", 250, 150, 0.5867, "waterproof 4K helmet camera with image stabilisation"),
    ]),
    "Jacket": (100, [
        Variant("Leather Jacket", 120, 70, 0.7219, "full-grain leather biker cut with a quilted lining"),
        Variant("Parka Jacket", 100, 60, 0.7832, "long hooded parka with a faux-fur trim"),
        Variant("Winter Jacket", 90, 50, 1.0, "insulated, wind-proof shell rated to -20 C"),
        Variant("Rain Jacket", 80, 45, 0.7017, "light packable waterproof shell with taped seams"),
    ]),
    "Smartphone": (800, [
        Variant("Flagship Smartphone", 850, 600, 1.0, "6.7-inch OLED, triple camera, 512 GB storage"),
        Variant("Mid-Range Smartphone", 600, 400, 0.7886, "6.4-inch screen, dual camera, 256 GB storage"),
        Variant("Budget Smartphone", 350, 250, 0.7746, "6.1-inch LCD, single camera, 64 GB storage"),
        Variant("Gaming Smartphone", 700, 500, 0.7399, "144 Hz display, active cooling fan, 16 GB RAM"),
    ]),
    "Shoes": (150, [
        Variant("Designer Shoes", 160, 100, 1.0, "hand-stitched Italian leather dress shoes"),
        Variant("Casual Shoes", 100, 60, 0.6474, "canvas everyday sneakers"),
        Variant("Athletic Shoes", 130, 90, 0.6505, "cushioned running shoes with a carbon plate"),
        Variant("Sandals", 70, 40, 0.5953, "cork-footbed summer sandals"),
    ]),
    "Bicycle": (400, [
        Variant("Mountain Bicycle", 450, 300, 1.0, "full-suspension trail bike, 29-inch wheels"),
        Variant("Road Bicycle", 350, 200, 0.7819, "light aluminium frame, drop bars, 22 gears"),
        Variant("Hybrid Bicycle", 300, 180, 0.6950, "upright commuter with mudguards and a rack"),
        Variant("Folding Bicycle", 250, 150, 0.6043, "16-inch wheels, folds in ten seconds"),
    ]),
    "Drone": (600, [
        Variant("Professional Drone", 620, 450, 1.0, "5.1K gimbal camera, 40-minute flight time"),
        Variant("Recreational Drone", 400, 300, 0.7905, "2.7K camera, 25-minute flight time"),
        Variant("Racing Drone", 300, 200, 0.7725, "FPV goggles included, 120 km/h top speed"),
        Variant("Mini Drone", 150, 100, 0.7350, "palm-sized, under 250 g, 1080p camera"),
    ]),
    "Soccer Ball": (50, [
        Variant("Premium Soccer Ball", 55, 30, 1.0, "thermally bonded match ball, size 5"),
        Variant("Training Soccer Ball", 35, 20, 0.7015, "durable stitched ball for daily practice"),
        Variant("Recreational Soccer Ball", 25, 15, 0.7154, "soft-touch ball for the park"),
        Variant("Mini Soccer Ball", 15, 10, 0.6609, "size 1 skills ball"),
    ]),
    "Bag": (80, [
        Variant("Leather Bag", 90, 50, 1.0, "vegetable-tanned leather shoulder bag"),
        Variant("Backpack", 70, 40, 0.6217, "25 L laptop backpack with a water-resistant base"),
        Variant("Tote Bag", 50, 30, 0.6175, "heavy cotton canvas tote"),
        Variant("Drawstring Bag", 30, 20, 0.6222, "light nylon gym sack"),
    ]),
    "Wine": (100, [
        Variant("Premium Wine", 110, 70, 1.0, "ten-year-old reserve red from a single estate"),
        Variant("Red Wine", 80, 50, 0.7406, "medium-bodied blend, three years in oak"),
        Variant("White Wine", 60, 40, 0.6230, "crisp unoaked dry white"),
        Variant("Sparkling Wine", 40, 25, 0.5618, "bottle-fermented brut"),
    ]),
    "Cup": (30, [
        Variant("Ceramic Cup", 35, 20, 1.0, "hand-thrown stoneware mug with a glaze finish"),
        Variant("Glass Cup", 25, 15, 0.7451, "double-walled borosilicate glass"),
        Variant("Travel Cup", 20, 10, 0.6377, "insulated steel tumbler with a lid"),
        Variant("Plastic Cup", 10, 5, 0.6371, "stackable BPA-free picnic cup"),
    ]),
}


def desired_variant(category: str) -> Variant:
    return next(v for v in MULTI_CATALOGUE[category][1] if v.similarity == 1.0)


def find_variant(category: str, name: str) -> Variant | None:
    """Variant of ``category`` named ``name`` (case-insensitive; a unique leading word like ``"digital"`` works)."""
    variants = MULTI_CATALOGUE[category][1]
    key = " ".join(name.lower().split())
    for v in variants:
        if v.name.lower() == key:
            return v
    hits = [v for v in variants if key and (key in v.name.lower() or v.name.lower().split()[0] == key.split()[0])]
    # "Leather Bag" vs "Leather Jacket" never collide inside one category; prefer the longest exact substring hit
    hits = [v for v in hits if key in v.name.lower()] or hits
    return hits[0] if len(hits) == 1 else None


# --------------------------------------------------------------------------------------------------------
# Markets (spec §2.2) -- our wording
# --------------------------------------------------------------------------------------------------------

MARKETS: list[str] = ["vanilla", "deceptive", "monopoly", "installment", "negative", "several"]
SINGLE_MARKETS = MARKETS[:5]

# Each market's extra rules. The sentences double as markers that scripted agents look for in their prompt,
# so a test (test_scenarios) checks that each appears in exactly its market's prompts.
BUYER_MARKET_RULES: dict[str, str] = {
    "vanilla": "",
    "deceptive": (
        "Anything goes in this market: you may keep your budget to yourself, bluff, act cunningly, and threaten to "
        "walk away if that gives you leverage."
    ),
    "monopoly": (
        "This seller is the only place that sells this product; nobody else has it. You may still bluff or threaten "
        "to leave, but keep in mind that you have no other seller to turn to."
    ),
    "installment": (
        "Payment by instalments is possible in this market. A plan is debt: it weighs on your household's future "
        "budget, and the total amount of the plan is what you pay. You may bluff and act cunningly."
    ),
    "negative": (
        "You have read many customer complaints that this seller's earlier products broke too soon (poor durability). "
        "You may use this bad reputation as leverage. You may bluff and act cunningly."
    ),
    "several": (
        "This seller carries several versions of the product, listed below with their prices and features. "
        "You are keen on one particular item, but you may switch to another one if it serves you better."
    ),
}
SELLER_MARKET_RULES: dict[str, str] = {
    "vanilla": "",
    "deceptive": (
        "Anything goes in this market: you may hide your cost, bluff, and act cunningly or slyly so that the buyer "
        "cannot talk your price down easily."
    ),
    "monopoly": (
        "You are the only seller of this product anywhere; the buyer has no alternative. Use this as leverage. "
        "You may bluff and act cunningly."
    ),
    "installment": (
        "Payment by instalments is possible in this market. You may offer or accept an instalment plan when it "
        "raises the total you receive. You may bluff and act cunningly."
    ),
    "negative": (
        "Some customers complained that your earlier products broke too soon (poor durability), and the buyer may "
        "have heard about it. Counter these doubts so that they do not push your price down. You may bluff and act "
        "cunningly."
    ),
    "several": (
        "You sell several versions of the product, listed below with their prices, your costs and features. You may "
        "sell any of them. You may bluff and act cunningly."
    ),
}
MARKET_TITLES = {
    "vanilla": "plain bargaining",
    "deceptive": "deception allowed",
    "monopoly": "seller monopoly",
    "installment": "instalment payments",
    "negative": "seller with a bad reputation",
    "several": "several products",
}

OPENER = "Hi, I'd like to buy a nice {product}."  # fixed first buyer message (spec §2.2; our wording)
_COUNT_NOUN = {"Shoes": "pair of shoes"}


def noun(product: str) -> str:
    """The product as a countable noun phrase (``camera``, ``pair of shoes``)."""
    return _COUNT_NOUN.get(product, product.lower())


def fmt_price(p: float) -> str:
    """``$450`` for whole amounts, ``$447.50`` otherwise (the form agents and the action grammar use)."""
    p = round(float(p), 2)
    return f"${p:,.0f}" if abs(p - round(p)) < 1e-9 else f"${p:,.2f}"


@dataclass
class Scenario:
    """One (market, product) cell: prices, optional inventory, and both system prompts."""

    market: str
    product: str  # product name (single) or category (several)
    budget: float
    list_price: float  # of the desired item in ``several``
    cost: float  # of the desired item in ``several``
    rounds: int
    desired_item: str = ""  # ``several`` only
    inventory: list[dict] = field(default_factory=list)  # ``several`` only: name, price, cost, similarity, features
    buyer_system: str = ""
    seller_system: str = ""

    @property
    def multi(self) -> bool:
        return self.market == "several"

    @property
    def opener(self) -> str:
        return OPENER.format(product=noun(self.product))

    @property
    def key(self) -> str:
        return f"{self.market}/{self.product}"

    def item_prices(self, item: str | None) -> tuple[float, float, float]:
        """(budget, list price, cost, similarity) of ``item`` (single products: the product itself)."""
        return self.prices_and_ar(item)[:3]

    def prices_and_ar(self, item: str | None) -> tuple[float, float, float, float]:
        if not self.multi:
            return self.budget, self.list_price, self.cost, 1.0
        v = find_variant(self.product, item or self.desired_item)
        if v is None:
            raise KeyError(f"{item!r} is not an item of the {self.product} inventory")
        return self.budget, v.price, v.cost, v.similarity

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Scenario:
        return cls(**d)


# --------------------------------------------------------------------------------------------------------
# Prompts (our wording; the information content follows spec §2.2)
# --------------------------------------------------------------------------------------------------------

_BUYER_ACTIONS = """\
  [BUY] $M      offer to pay $M
  [REJECT]      turn down the seller's offer without naming a price
  [DEAL] $M     accept the seller's latest offer; $M must repeat the seller's latest [SELL] price
  [QUIT]        leave without buying"""
_SELLER_ACTIONS = """\
  [SELL] $M     ask $M
  [REJECT]      turn down the buyer's offer without naming a price
  [DEAL] $M     accept the buyer's latest offer; $M must repeat the buyer's latest [BUY] price
  [QUIT]        end the talk without selling"""
_INSTALLMENT_ACTIONS = """
  [INSTALLMENT] $M over N months   propose that a total of $M is paid in N monthly parts
  [DEAL] $M over N months          accept the other side's instalment plan"""
_ITEM_NOTE = """
In this market, name the item with every price action, e.g. [{tag}] $M (Item Name)."""

_FORMAT = """\
Format. Every reply has exactly three parts, in this order:
Thought: your private reasoning; the {other} never sees this part
Talk: what you say to the {other}
Action: exactly one of
{actions}{extra}
A [DEAL] or a [QUIT] from either side ends the conversation.{first}"""


def _buyer_prompt(market: str, product: str, budget: float, list_price: float, rounds: int,
                  inventory: list[Variant] | None, desired: str) -> str:
    lines = [
        f"You are a buyer bargaining with a seller over a {noun(product)}. Market: {MARKET_TITLES[market]}.",
        "",
        "Private facts (never tell the seller):",
        f"- Your budget, the most you are allowed to pay: {fmt_price(budget)}",
        "Facts both sides know:",
    ]
    if inventory:
        want = next(v for v in inventory if v.name == desired)
        lines.append(f"- The item you want most: {want.name}, listed at {fmt_price(want.price)}")
    else:
        lines.append(f"- The seller's list price: {fmt_price(list_price)}")
    lines += [
        f"- You can reply at most {rounds} times after your opening line.",
        "",
        "Goal: buy at the lowest price you can within the limited number of turns. Never agree to pay more than "
        "your budget; if the seller will not come down to it, walk away.",
    ]
    rule = BUYER_MARKET_RULES[market]
    if rule:
        lines += ["", rule]
    if inventory:
        lines += ["", "Seller's inventory (list price; features):"]
        lines += [f"- {v.name}: {fmt_price(v.price)}; {v.features}" for v in inventory]
    extra = (_INSTALLMENT_ACTIONS if market == "installment" else "") + (_ITEM_NOTE.format(tag="BUY") if inventory else "")
    lines += ["", _FORMAT.format(other="seller", actions=_BUYER_ACTIONS, extra=extra,
                                  first="\nYour first reply must use [BUY] or [REJECT].")]
    offer = round(0.7 * (want.price if inventory else list_price))
    item = f" ({desired})" if inventory else ""
    lines += [
        "",
        "Example reply:",
        "Thought: The asking price is above my budget, so I open low and keep room to move up.",
        f"Talk: That is more than I hoped to spend. Would you take {fmt_price(offer)}?",
        f"Action: [BUY] {fmt_price(offer)}{item}",
    ]
    return "\n".join(lines)


def _seller_prompt(market: str, product: str, list_price: float, cost: float, inventory: list[Variant] | None) -> str:
    lines = [
        f"You are a seller bargaining with a buyer over a {noun(product)}. Market: {MARKET_TITLES[market]}.",
        "",
    ]
    if inventory:
        lines += ["Your inventory (list price; your cost, which is private; features):"]
        lines += [f"- {v.name}: {fmt_price(v.price)}; your cost {fmt_price(v.cost)}; {v.features}" for v in inventory]
        lines += ["", "Never reveal a cost, and never sell an item below its cost."]
    else:
        lines += [
            "Private facts (never tell the buyer):",
            f"- Your cost, the least you may accept: {fmt_price(cost)}",
            "Facts both sides know:",
            f"- Your list price: {fmt_price(list_price)}",
            "",
            "Never reveal your cost, and never sell below it.",
        ]
    lines += ["", "Goal: sell at the highest price you can."]
    rule = SELLER_MARKET_RULES[market]
    if rule:
        lines += ["", rule]
    extra = (_INSTALLMENT_ACTIONS if market == "installment" else "") + (_ITEM_NOTE.format(tag="SELL") if inventory else "")
    lines += ["", _FORMAT.format(other="buyer", actions=_SELLER_ACTIONS, extra=extra, first="")]
    ask = inventory[0].price if inventory else list_price
    item = f" ({inventory[0].name})" if inventory else ""
    lines += [
        "",
        "Example reply:",
        "Thought: The buyer sounds interested; I hold my price for now and stress the quality.",
        "Talk: It is in excellent condition and worth every cent of the list price.",
        f"Action: [SELL] {fmt_price(ask)}{item}",
    ]
    return "\n".join(lines)


def make_scenario(market: str, product: str, rounds: int = 10) -> Scenario:
    """Build the scenario for one (market, product) cell."""
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}; known: {MARKETS}")
    if product not in SINGLE_PRICES:
        raise ValueError(f"unknown product {product!r}; known: {PRODUCTS}")
    if market == "several":
        budget, variants = MULTI_CATALOGUE[product]
        want = desired_variant(product)
        return Scenario(
            market=market, product=product, budget=budget, list_price=want.price, cost=want.cost, rounds=rounds,
            desired_item=want.name, inventory=[asdict(v) for v in variants],
            buyer_system=_buyer_prompt(market, product, budget, want.price, rounds, variants, want.name),
            seller_system=_seller_prompt(market, product, want.price, want.cost, variants),
        )
    b, i, c = SINGLE_PRICES[product]
    return Scenario(
        market=market, product=product, budget=b, list_price=i, cost=c, rounds=rounds,
        buyer_system=_buyer_prompt(market, product, b, i, rounds, None, ""),
        seller_system=_seller_prompt(market, product, i, c, None),
    )


def all_scenarios(markets: list[str] | None = None, products: list[str] | None = None, rounds: int = 10) -> list[Scenario]:
    return [make_scenario(m, p, rounds) for m in (markets or MARKETS) for p in (products or PRODUCTS)]
