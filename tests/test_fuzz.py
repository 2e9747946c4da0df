"""Random and mutated text never makes `check` crash: exit 0 or 1, never a traceback."""
from conftest import EXAMPLES, examples
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SEEDS = [p.read_text() for p in sorted(EXAMPLES.glob("*.net"))]
ALPHABET = st.sampled_from(list("abcxyzHW019_ =:()[],+-*/%#\n\t.'\"\\;") + [
    "    ", "conv", "dense", "pad=same", "k=", "s=", "input", "network", "let", "expect",
    "train:", "**", "//", "==", "roundeven(", "flatten", "relu", "1e-3", "0.5", "groups="])


def check_text(tmp_path, text, run_cli):
    path = tmp_path / "fuzz.net"
    path.write_text(text, encoding="utf-8")
    code, out, err = run_cli("check", path)
    assert code in (0, 1), (code, text, out, err)
    assert "Traceback" not in out + err and "internal error" not in out + err


@settings(max_examples=examples(300), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.lists(ALPHABET, max_size=40).map("".join))
def test_random_text(tmp_path, run_cli, text):
    check_text(tmp_path, text, run_cli)


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        position = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "duplicate_line"]))
        if action == "delete":
            text = text[:position] + text[position + draw(st.integers(1, 8)):]
        elif action == "insert":
            text = text[:position] + draw(ALPHABET) + text[position:]
        elif action == "replace":
            text = text[:position] + draw(ALPHABET) + text[position + 1:]
        else:
            lines = text.splitlines(keepends=True)
            i = draw(st.integers(0, max(len(lines) - 1, 0)))
            text = "".join(lines[:i + 1] + lines[i:])
    return text


@settings(max_examples=examples(400), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=mutated())
def test_mutated_examples(tmp_path, run_cli, text):
    check_text(tmp_path, text, run_cli)
