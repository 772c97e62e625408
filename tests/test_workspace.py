import pytest

from scorelens.exceptions import WorkspaceError
from scorelens.workspace import Workspace


def test_commit_and_resume(tmp_path):
    ws = Workspace(tmp_path / "ws")
    out = ws.path("cues", "f.csv")
    assert not ws.is_done(out, "k1")
    ws.commit(out, "k1", lambda p: p.write_text("v1"), meta={"n": 1})
    assert ws.is_done(out, "k1") and not ws.is_done(out, "k2")
    assert ws.record(out)["n"] == 1
    # Re-opening the same folder is fine.
    assert Workspace(tmp_path / "ws").is_done(out, "k1")


def test_crash_while_writing_keeps_the_old_output_and_no_half_file(tmp_path):
    ws = Workspace(tmp_path / "ws")
    out = ws.path("cues", "f.csv")
    ws.commit(out, "k1", lambda p: p.write_text("complete"))

    def crash(p):
        p.write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        ws.commit(out, "k2", crash)
    assert out.read_text() == "complete"
    assert not ws.is_done(out, "k2")
    assert not ws.is_done(out, "k1")  # the record was withdrawn before writing: k1 is redone, never trusted
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_refuses_foreign_folders(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "thesis.docx").write_text("precious")
    with pytest.raises(WorkspaceError, match="not a scorelens workspace"):
        Workspace(tmp_path / "home")
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkspaceError, match="must be a folder"):
        Workspace(tmp_path / "file")


def test_outputs_get_the_usual_file_mode_not_mkstemps_private_one(tmp_path, monkeypatch):
    import stat

    from scorelens.io import _atomic as atomic

    monkeypatch.setattr(atomic, "_UMASK", 0o022)
    with atomic.atomic_path(tmp_path / "report.html") as tmp:
        tmp.write_text("<p>shared</p>")
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644   # mkstemp alone gives 0o600
