from mlrepro_flexjudge.cli import main


def test_print_config(capsys):
    assert main(["print-config", "--recipe", "smoke"]) == 0
    assert "seed" in capsys.readouterr().out
