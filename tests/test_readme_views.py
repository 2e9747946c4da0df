"""The README's outputs of `table --depth`, `diff` and `draw --format mermaid` are what the
commands print now."""
import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("args", [
    ("table", "examples/resnet50.net", "--depth", "1"),
    ("diff", "examples/alexnet.net", "--a", "H=227", "--b", "H=270,W=480,classes=29",
     "--columns", "shape,size,params"),
    ("diff", "examples/alexnet.net", "examples/alexnet_adapted.net", "--columns", "params"),
    ("draw", "examples/resnet50.net", "--depth", "1", "--format", "mermaid"),
])
def test_readme_shows_the_output(run_cli, monkeypatch, args):
    monkeypatch.chdir(ROOT)
    code, out, err = run_cli(*args)
    assert code == 0, err
    assert out.strip("\n") in README
