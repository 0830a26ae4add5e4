"""Starting rp2040js: an emulator that gives no socket is named for what it did (a fake node,
so these run without Node.js)."""

import pytest
from helpers import fake_program, start_refusal

from bs4nn.host import rp2040js


@pytest.mark.parametrize(
    "script, said",
    [
        ("print('Error: cannot load'); sys.exit(3)", "exited with status 3 before it announced"),
        ("print('booting'); sys.stdout.flush(); time.sleep(30)", "did not announce its socket"),
    ],
    ids=["exits", "silent"],
)
def test_an_rp2040js_that_gives_no_socket_is_named_for_what_it_did(
    tmp_path, monkeypatch, script, said
):
    monkeypatch.setenv("PATH", str(fake_program(tmp_path / "bin", "node", script).parent))
    modules = tmp_path / "node_modules"
    (modules / "rp2040js").mkdir(parents=True)
    (modules / "rp2040js" / "package.json").write_text("{}")
    monkeypatch.setenv("RP2040JS_NODE_PATH", str(modules))
    message = start_refusal(rp2040js.start_rp2040js, tmp_path / "firmware.bin")
    shown = "Error: cannot load" if "exit" in script else "booting"
    assert message.startswith(f"rp2040js {said}") and message.endswith(f"its output:\n{shown}")
