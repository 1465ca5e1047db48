"""Ingest: every bad input becomes a recorded exclusion with a clear reason, never a crash."""

from __future__ import annotations

import json
import re
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import ingest as ing
from pipeline.manifest import MANIFEST_COLUMNS, read_manifest
from pipeline.__main__ import main as cli
from pipeline.datasets import bp4d, disfa, pure, ubfc
from pipeline.errors import InputError
from pipeline.synth import generate as gen
from tests.tiny_config import tiny_params

ROOT = Path(__file__).resolve().parent.parent
CFG = {"bp4d_tasks": ["T1", "T6", "T7", "T8"], "bp4d_published_exclusions": True,
       "fps_tolerance": 0.5, "max_duration_mismatch_s": 1.0, "min_frames": 2, "verify_frames": True,
       "min_recorded_hr_bpm": 30, "implausible_recorded_hr": "keep"}
N = 25  # frames per trial: 1 s at 25 fps


def frames(n: int = N, name: str = "") -> list[np.ndarray]:
    """Noise frames; each trial name gets its own (equal content is a duplicate recording)."""
    rng = np.random.default_rng([n, zlib.crc32(name.encode())])
    return [rng.integers(0, 256, (16, 12, 3), dtype=np.uint8) for _ in range(n)]


def write_bp4d(root: Path, subject: str, task: str, n: int = N, n_phys: int | None = None,
               au: bool = True, au_first: int = 1, **phys_override: np.ndarray) -> None:
    n_phys = n * 40 if n_phys is None else n_phys
    t = np.arange(n_phys) / 1000.0
    phys = {"BP_mmHg": 100 + 10 * np.sin(2 * np.pi * t), "Resp_Volts": np.sin(0.5 * t)}
    phys.update({k.replace("_", " ") if k == "Pulse_Rate_BPM" else k: v for k, v in phys_override.items()})
    occ = np.zeros((n // 2, 34), int) if au else None
    bp4d.write_trial(root, subject, task, iter(frames(n, subject + task)), phys, au_occurrence=occ, au_first_frame=au_first)


def run(dataset: str, root: Path, **cfg) -> dict[str, tuple[str, str]]:
    table, _ = ing.ingest(dataset, root, {**CFG, **cfg})
    return {r.trial_id: (r.status, r.reason) for r in table.itertuples()}


def test_published_list_has_every_trial_once() -> None:
    listed = ing.published_exclusions()
    # the supplement (section D) lists 68 distinct trial ids
    assert len(listed) == 68
    assert {"F041T7", "M055T8", "F001T8", "M024T1"} <= set(listed)
    assert set(listed.values()) == {"published exclusion list (supp. D)"}


def test_bp4d_selection_and_checks(tmp_path: Path) -> None:
    write_bp4d(tmp_path, "F002", "T1")                                  # ok
    write_bp4d(tmp_path, "F002", "T2")                                  # task not AU-coded
    write_bp4d(tmp_path, "F041", "T7")                                  # published list
    write_bp4d(tmp_path, "F002", "T6", n=3 * N, n_phys=1000)            # physiology 1 s, video 3 s
    write_bp4d(tmp_path, "F002", "T7", Resp_Volts=np.r_[np.zeros(500), np.nan, np.zeros(499)])
    write_bp4d(tmp_path, "F002", "T8", au_first=N - 3)                  # AU frames past the video end
    write_bp4d(tmp_path, "F003", "T1", au=False)                        # AU coding missing
    write_bp4d(tmp_path, "F003", "T6")
    (tmp_path / "Physiology" / "F003" / "T6" / "BP_mmHg.txt").unlink()  # physiology file missing
    write_bp4d(tmp_path, "F003", "T7")
    au = tmp_path / "AUCoding" / "AU_OCC" / "F003_T7.csv"
    table = pd.read_csv(au)
    table.iloc[:, :20].to_csv(au, index=False)                          # AU columns missing
    (tmp_path / "Physiology" / "F003" / "T8").mkdir(parents=True)        # empty trial folder
    got = run("bp4d", tmp_path)
    assert got["F002T1"] == ("ok", "")
    assert got["F002T2"] == ("excluded", "task not AU-coded (tasks used: T1,T6,T7,T8)")
    assert got["F041T7"] == ("excluded", "published exclusion list (supp. D)")
    assert got["F002T6"] == ("excluded", "label shorter than the video (pulse: 1.00 s < 3.00 s)")
    assert got["F002T7"] == ("excluded", "non-finite label values (1 samples): Physiology/F002/T7/Resp_Volts.txt")
    assert got["F002T8"] == ("excluded", "AU frame numbers 22..33 outside the video (1..25): AUCoding/AU_OCC/F002_T8.csv")
    assert got["F003T1"] == ("excluded", "AU occurrence file missing (AUCoding/AU_OCC/F003_T1.csv)")
    assert got["F003T6"] == ("excluded", "physiology file missing: Physiology/F003/T6/BP_mmHg.txt")
    assert got["F003T7"] == ("excluded", "AU file has 20 columns, expected 35: AUCoding/AU_OCC/F003_T7.csv")
    assert got["F003T8"] == ("excluded", "no frames for task T8: 2D+3D/F003.zip")
    # the switches: all tasks kept and the published list off
    got = run("bp4d", tmp_path, bp4d_tasks=["T1", "T2", "T7"], bp4d_published_exclusions=False)
    assert got["F002T2"] == ("ok", "") and got["F041T7"] == ("ok", "")
    assert got["F002T6"][1] == "task not AU-coded (tasks used: T1,T2,T7)"


def test_bp4d_corrupt_jpeg(tmp_path: Path) -> None:
    write_bp4d(tmp_path, "M002", "T1")
    zpath = tmp_path / "2D+3D" / "M002.zip"
    with zipfile.ZipFile(zpath) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(zpath, "w") as zf:
        for info, data in members:
            zf.writestr(info, data[: len(data) // 2] if info.filename.endswith("0017.jpg") else data)
    got = run("bp4d", tmp_path)
    assert got["M002T1"] == ("excluded", "truncated JPEG (no end-of-image marker): 2D+3D/M002.zip:M002/T1/0017.jpg")
    # without frame verification the trial passes ingest (the check is what catches it; the
    # duplicate fingerprint decodes only the first frames)
    assert ing.FINGERPRINT_FRAMES <= 17
    assert run("bp4d", tmp_path, verify_frames=False)["M002T1"] == ("ok", "")


def test_bp4d_corrupt_zip(tmp_path: Path) -> None:
    write_bp4d(tmp_path, "M002", "T1")
    write_bp4d(tmp_path, "M003", "T1")
    (tmp_path / "2D+3D" / "M003.zip").write_bytes(b"not a zip")
    got = run("bp4d", tmp_path)
    assert got["M002T1"] == ("ok", "")
    assert got["M003T1"] == ("excluded", "corrupt zip archive: 2D+3D/M003.zip")


def _deflate_zip(zpath: Path) -> None:
    """Rewrite a BP4D+ zip with every member DEFLATED (as some copies of the dataset are)."""
    with zipfile.ZipFile(zpath) as zf:
        members = [(info, zf.read(info)) for info in zf.infolist()]
    with zipfile.ZipFile(zpath, "w") as zf:
        for info, data in members:
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)


def _patch_member(zpath: Path, name: str, *, data_byte: int | None = None, flag_bits: int | None = None,
                  method: int | None = None) -> None:
    """Change one member's bytes in place: the first byte of its (compressed) data, or the
    general-purpose flags / compression method of its central directory entry."""
    blob = bytearray(zpath.read_bytes())
    with zipfile.ZipFile(zpath) as zf:
        info = zf.getinfo(name)
    if data_byte is not None:
        off = info.header_offset
        name_len, extra_len = (int.from_bytes(blob[off + k:off + k + 2], "little") for k in (26, 28))
        start = off + 30 + name_len + extra_len  # local header, then the member's data
        blob[start] = data_byte
    pos = blob.find(b"PK\x01\x02")
    while pos >= 0:  # central directory entries: signature, then the name at offset 46
        n = int.from_bytes(blob[pos + 28:pos + 30], "little")
        if blob[pos + 46:pos + 46 + n] == name.encode():
            break
        pos = blob.find(b"PK\x01\x02", pos + 1)
    assert pos >= 0
    if flag_bits is not None:
        blob[pos + 8:pos + 10] = flag_bits.to_bytes(2, "little")
    if method is not None:
        blob[pos + 10:pos + 12] = method.to_bytes(2, "little")
    zpath.write_bytes(bytes(blob))


def test_bp4d_corrupt_deflated_member(tmp_path: Path) -> None:
    write_bp4d(tmp_path, "M002", "T1")
    for task in ("T1", "T6"):
        write_bp4d(tmp_path, "M003", task)
    write_bp4d(tmp_path, "M004", "T1")
    for subject in ("M002", "M003", "M004"):
        _deflate_zip(tmp_path / "2D+3D" / f"{subject}.zip")
    # 0xFF opens a deflate block of the reserved type: zlib raises zlib.error on it, on a frame
    # read while verifying (M003T1) and on the first frame read by load_trial (M004T1)
    _patch_member(tmp_path / "2D+3D" / "M003.zip", "M003/T1/0007.jpg", data_byte=0xFF)
    _patch_member(tmp_path / "2D+3D" / "M004.zip", "M004/T1/0000.jpg", data_byte=0xFF)
    table, kinds = ing.ingest("bp4d", tmp_path, CFG)
    got = {r.trial_id: (r.status, r.reason) for r in table.itertuples()}
    assert got["M002T1"] == ("ok", "")
    assert got["M003T6"] == ("ok", "")
    assert got["M003T1"] == ("excluded", "corrupt zip member (invalid compressed data): 2D+3D/M003.zip:M003/T1/0007.jpg")
    assert got["M004T1"] == ("excluded", "corrupt zip member (invalid compressed data): 2D+3D/M004.zip:M004/T1/0000.jpg")
    assert kinds == {"corrupt zip member (invalid compressed data)": 2}


@pytest.mark.parametrize("patch, reason", [
    ({"flag_bits": 0x1}, "zip member is encrypted (cannot be read without a password)"),
    ({"method": 97}, "zip member uses an unsupported compression method (97)"),
    ({"data_byte": 0x00}, "corrupt zip member (CRC mismatch)"),
])
def test_bp4d_unreadable_zip_member(tmp_path: Path, patch: dict, reason: str) -> None:
    write_bp4d(tmp_path, "M002", "T1")
    write_bp4d(tmp_path, "M002", "T6")
    # a stored member: a changed first data byte keeps the archive readable but fails the CRC
    _patch_member(tmp_path / "2D+3D" / "M002.zip", "M002/T1/0005.jpg", **patch)
    got = run("bp4d", tmp_path)
    assert got["M002T1"] == ("excluded", f"{reason}: 2D+3D/M002.zip:M002/T1/0005.jpg")
    assert got["M002T6"] == ("ok", "")


def test_unexpected_reader_error_is_an_exclusion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for task in ("T1", "T6", "T7"):
        write_bp4d(tmp_path, "F002", task)
    real = bp4d.load_trial
    failures = {"F002T1": KeyError("Frame"), "F002T6": zlib.error("Error -3 while decompressing data\nat byte 7")}

    def load_trial(ref):
        if ref.trial_id in failures:
            raise failures[ref.trial_id]
        return real(ref)

    monkeypatch.setattr(bp4d, "load_trial", load_trial)
    table, kinds = ing.ingest("bp4d", tmp_path, CFG)
    got = {r.trial_id: (r.status, r.reason) for r in table.itertuples()}
    assert got["F002T1"] == ("excluded", "unexpected error while reading the trial (KeyError): 'Frame'")
    assert got["F002T6"] == ("excluded", "unreadable input (zlib.error): Error -3 while decompressing data at byte 7")
    assert got["F002T7"] == ("ok", "")
    assert kinds == {"unexpected error while reading the trial (KeyError)": 1, "unreadable input (zlib.error)": 1}


def test_generated_defects_off_the_published_list_are_caught(tmp_path: Path) -> None:
    """Defects written by the generator on trials the published list does not name are excluded
    by the automatic checks; with the list on, a listed trial keeps the published reason."""
    params = tiny_params()
    bp = params["synth"]["bp4d"]
    defects = {"F002T1": "au_length_mismatch", "F002T6": "missing_physiology",
               "F002T7": "nonfinite_physiology", "F001T8": "missing_physiology"}
    bp.update(frame_size=[40, 32], subjects=["F001", "F002"], au_task_frames=30, au_coded_frames=20,
              other_task_frames=2, defects=defects, missing_trials=[])
    listed = ing.published_exclusions()
    assert not {"F002T1", "F002T6", "F002T7", "F002T8"} & set(listed) and "F001T8" in listed
    gen.generate("bp4d", params, tmp_path / "bp4d")
    automatic = {
        "F002T1": re.escape("AU frame numbers 6..50 outside the video (1..30): AUCoding/AU_OCC/F002_T1.csv"),
        "F002T6": re.escape("physiology file missing: Physiology/F002/T6/BP_mmHg.txt"),
        "F002T7": r"non-finite label values \(\d+ samples\): Physiology/F002/T7/Resp_Volts\.txt",
        "F001T8": re.escape("physiology file missing: Physiology/F001/T8/BP_mmHg.txt"),
    }
    for use_list in (False, True):
        got = run("bp4d", tmp_path / "bp4d", **{**params["ingest"], "bp4d_published_exclusions": use_list})
        assert len(got) == 20
        for tid, (status, reason) in got.items():
            if tid in automatic:
                assert status == "excluded", (use_list, tid)
                if use_list and tid in listed:
                    assert reason == ing.PUBLISHED_REASON
                else:
                    assert re.fullmatch(automatic[tid], reason), (use_list, tid, reason)
            elif tid[4:] in ("T1", "T6", "T7", "T8"):
                assert (status, reason) == ("ok", ""), (use_list, tid)
            else:
                assert (status, reason) == ("excluded", "task not AU-coded (tasks used: T1,T6,T7,T8)")


def _ubfc(root: Path, subject: int, fps: float = 30.0, n: int = 30) -> None:
    ts = np.arange(n) / fps
    ubfc.write_trial(root, subject, iter(frames(n, f"s{subject}")), fps, np.sin(ts), np.full(n, 70.0), ts)


def test_ubfc_truncated_video_and_fps(tmp_path: Path) -> None:
    _ubfc(tmp_path, 1)
    _ubfc(tmp_path, 2)
    _ubfc(tmp_path, 3, fps=20.0)
    _ubfc(tmp_path, 4)
    video = tmp_path / "subject2" / "vid.avi"
    video.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    gt = tmp_path / "subject4" / "ground_truth.txt"
    gt.write_text("\n".join(gt.read_text().splitlines()[:2]) + "\n")
    got = run("ubfc", tmp_path)
    assert got["subject1"] == ("ok", "")
    assert got["subject2"][0] == "excluded"
    assert re.fullmatch(r"video truncated or corrupt: decoded 1?\d of 30 frames: subject2/vid.avi", got["subject2"][1])
    assert got["subject3"] == ("excluded", "fps other than expected (20.000 vs 30)")
    assert got["subject4"] == ("excluded", "expected 3 rows (PPG, HR, timestamps), found 2: subject4/ground_truth.txt")


def test_implausible_recorded_rate_is_flagged_then_kept_or_excluded(tmp_path: Path) -> None:
    """A UBFC-rPPG HR row at 0-4 bpm (as for four real subjects) is kept and scored by default, as
    the published protocol does, but never silently: the manifest and its sidecar carry the
    warning; 'exclude' leaves the trial out with the warning as its reason."""
    _ubfc(tmp_path, 1)
    ts = np.arange(30) / 30.0
    rate = np.full(30, 72.0)
    rate[10:20] = 3.0  # a third of the recording under 5 bpm
    ubfc.write_trial(tmp_path, 2, iter(frames(30, "s2")), 30.0, np.sin(ts), rate, ts)
    ubfc.write_trial(tmp_path, 3, iter(frames(30, "s3")), 30.0, np.sin(ts), np.r_[np.full(29, 72.0), 3.0], ts)
    table, kinds = ing.ingest("ubfc", tmp_path, CFG)
    rows = table.set_index("trial_id")
    warning = "recorded heart rate implausible (33% of it under 30 bpm, lowest 3.0)"
    assert list(rows["status"]) == ["ok", "ok", "ok"] and not kinds
    assert rows.loc["subject2", "warning"] == warning
    assert rows.loc["subject1", "warning"] == rows.loc["subject3", "warning"] == ""  # 1 of 30 samples: 3%
    out = tmp_path / "interim" / "manifest.csv"
    ing.write_manifest(table, kinds, out, "ubfc", tmp_path, {"ingest": CFG, "synth": {"datasets": []}, "seed": 0})
    assert json.loads(out.with_suffix(".json").read_text())["warnings"] == {"subject2": warning}
    assert read_manifest(out).set_index("trial_id").loc["subject2", "warning"] == warning
    assert run("ubfc", tmp_path, implausible_recorded_hr="exclude")["subject2"] == ("excluded", warning)
    assert run("ubfc", tmp_path, min_recorded_hr_bpm=2)["subject2"] == ("ok", "")


def _pure(root: Path, person: int, setup: int, n: int = 30, ppg_span: float = 1.0) -> None:
    f_ns = 10**9 + np.arange(n) * 33_333_333
    m = int(60 * n / 30 * ppg_span)
    p_ns = 10**9 + np.arange(m) * 16_666_667
    pure.write_trial(root, person, setup, iter(frames(n, f"{person}-{setup}")), f_ns, np.cos(np.arange(m) / 9), p_ns)


def test_pure_json_png_and_coverage(tmp_path: Path) -> None:
    _pure(tmp_path, 1, 1)
    _pure(tmp_path, 1, 2)
    (tmp_path / "01-02" / "01-02.json").write_text('{"/FullPackage": [')
    _pure(tmp_path, 2, 1)
    png = sorted((tmp_path / "02-01" / "02-01").glob("*.png"))[3]
    png.write_bytes(png.read_bytes()[:60])
    _pure(tmp_path, 2, 2, n=60, ppg_span=0.4)                           # PPG stops early
    (tmp_path / "03-01" / "03-01").mkdir(parents=True)                  # empty trial folder
    got = run("pure", tmp_path)
    assert got["01-01"] == ("ok", "")
    assert got["01-02"] == ("excluded", "unparseable JSON: 01-02/01-02.json")
    assert got["02-01"][0] == "excluded" and got["02-01"][1].startswith("corrupt image (cannot decode): 02-01/02-01/Image")
    assert got["02-02"] == ("excluded", "label shorter than the video (pulse: 0.82 s < 2.00 s)")
    assert got["03-01"] == ("excluded", "no frames (empty trial folder): 03-01/03-01")


def test_disfa_missing_au_and_out_of_range(tmp_path: Path) -> None:
    aus = (1, 2, 4, 6, 9, 12, 25, 26)
    for sn in (1, 2, 3):
        disfa.write_trial(tmp_path, sn, iter(frames(20, str(sn))), 20.0, {k: np.ones(20, int) for k in aus})
    (tmp_path / "ActionUnit_Labels" / "SN002" / "SN002_au25.txt").unlink()
    (tmp_path / "ActionUnit_Labels" / "SN003" / "SN003_au4.txt").write_text("1,0\n21,2\n")
    got = run("disfa", tmp_path)
    assert got["SN001"] == ("ok", "")
    assert got["SN002"] == ("excluded", "AU label file missing: ActionUnit_Labels/SN002/SN002_au25.txt")
    assert got["SN003"] == ("excluded", "AU frame numbers 1..21 outside the video (1..20): ActionUnit_Labels/SN003/SN003_au4.txt")


def test_missing_dataset_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="dataset folder missing"):
        ing.ingest("ubfc", tmp_path / "nowhere", CFG)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no BP4D\\+ trials"):
        ing.ingest("bp4d", tmp_path / "empty", CFG)


def test_cli_writes_manifest_and_sidecar(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    raw = tmp_path / "raw"
    write_bp4d(raw, "F002", "T1")
    write_bp4d(raw, "F002", "T3")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"] = CFG
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    out = tmp_path / "interim" / "bp4d" / "manifest.csv"
    argv = ["ingest", "--dataset", "bp4d", "--params", str(tmp_path / "params.yaml")]
    assert cli(argv + ["--raw", str(raw), "--out", str(out)]) == 0
    table = read_manifest(out)
    assert list(table.columns) == MANIFEST_COLUMNS
    row = table.set_index("trial_id").loc["F002T1"]
    assert (row.n_frames, row.fps, row.duration_s, row.pulse_len, row.resp_len) == (25, 25.0, 1.0, 1000, 1000)
    assert (row.au_start, row.au_stop, row.au_len, row.status, row.reason) == (0, 12, 12, "ok", "")
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["counts"]["by_reason"] == {"task not AU-coded": 1}
    assert meta["counts"]["ok"] == 1 and "git_commit" in meta["provenance"]
    # a missing raw folder: exit 1 with one line naming it, no traceback
    capsys.readouterr()
    assert cli(argv + ["--raw", str(tmp_path / "none"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"error: {tmp_path / 'none'}: dataset folder missing"]


def test_disfa_short_label_file_and_bad_intensity(tmp_path: Path) -> None:
    """A label file shorter than the video and an intensity outside 0..5 exclude the trial with
    the file named; a complete file keeps au_len equal to the frame count."""
    aus = (1, 2, 4, 6, 9, 12, 25, 26)
    for sn in (1, 2, 3, 4):
        disfa.write_trial(tmp_path, sn, iter(frames(30, str(sn))), 20.0, {k: np.arange(30) % 6 for k in aus})
    labels = tmp_path / "ActionUnit_Labels"
    short = labels / "SN002" / "SN002_au1.txt"
    short.write_text("".join(short.read_text().splitlines(keepends=True)[:20]))   # 20 of 30 frames
    bad = labels / "SN003" / "SN003_au12.txt"
    bad.write_text(bad.read_text().replace("\n8,1\n", "\n8,9\n"))
    dup = labels / "SN004" / "SN004_au4.txt"
    dup.write_text(dup.read_text().replace("\n8,1\n", "\n7,1\n"))                  # frame 7 twice, 8 missing
    table, _ = ing.ingest("disfa", tmp_path, CFG)
    got = table.set_index("trial_id")
    assert (got.loc["SN001", "status"], got.loc["SN001", "au_len"], got.loc["SN001", "n_frames"]) == ("ok", 30, 30)
    assert got.loc["SN001", "au_uncoded_frames"] == 0
    assert got.loc["SN002", "reason"] == ("AU label file shorter than the video (codes 20 of 30 frames): "
                                          "ActionUnit_Labels/SN002/SN002_au1.txt")
    assert got.loc["SN003", "reason"] == ("AU intensity 9 at frame 8 outside the integers 0..5 (1 rows): "
                                          "ActionUnit_Labels/SN003/SN003_au12.txt")
    assert got.loc["SN004", "reason"] == "AU frame number 7 appears 2 times: ActionUnit_Labels/SN004/SN004_au4.txt"
    assert (got["status"] == "excluded").sum() == 3


def test_bp4d_missing_au_rows_are_uncoded_and_counted(tmp_path: Path) -> None:
    """AU_OCC rows missing inside the coded segment become uncoded frames (-1), counted in the
    manifest; the trial stays ok. A value other than 0, 1, 9 in a used AU column excludes it."""
    write_bp4d(tmp_path, "F002", "T1", au_first=5)                    # frames 5..16 coded
    au_csv = tmp_path / "AUCoding" / "AU_OCC" / "F002_T1.csv"
    table = pd.read_csv(au_csv)
    table.loc[:, "12"] = 1                                             # AU12 active where coded
    table.loc[3, "6"] = 9                                              # frame 8: AU06 unknown
    table.drop(index=[5, 6, 7]).to_csv(au_csv, index=False)            # frames 10, 11, 12 missing
    write_bp4d(tmp_path, "F002", "T6")
    bad = tmp_path / "AUCoding" / "AU_OCC" / "F002_T6.csv"
    table = pd.read_csv(bad)
    table.loc[2, "17"] = 5
    table.to_csv(bad, index=False)
    manifest, kinds = ing.ingest("bp4d", tmp_path, CFG)
    got = manifest.set_index("trial_id")
    row = got.loc["F002T1"]
    assert (row.status, row.au_start, row.au_stop, row.au_len, row.au_uncoded_frames) == ("ok", 4, 16, 12, 4)
    assert got.loc["F002T6", "reason"] == "AU17 value 5 at frame 3 is not 0, 1 or 9 (1 values): AUCoding/AU_OCC/F002_T6.csv"
    data = bp4d.load_trial(bp4d.list_trials(tmp_path)[0])
    au12 = data.au[:, bp4d.AU_NAMES.index("AU12")]
    assert au12[:4].tolist() == [-1] * 4 and au12[16:].tolist() == [-1] * 9
    assert au12[4:16].tolist() == [1, 1, 1, 1, 1, -1, -1, -1, 1, 1, 1, 1]
    assert data.au[7, bp4d.AU_NAMES.index("AU06")] == -1 and data.au[7, bp4d.AU_NAMES.index("AU12")] == 1


def test_stray_folders_are_listed_as_excluded(tmp_path: Path) -> None:
    """Trial folders whose names the layout does not accept get an excluded row with the
    reason; hidden and sidecar folders (_truth) do not."""
    ubfc_root = tmp_path / "ubfc"
    for sid in (1, 2):
        _ubfc(ubfc_root, sid)
    (ubfc_root / "subject2").rename(ubfc_root / "subject 16")
    _ubfc(ubfc_root, 18)
    (ubfc_root / "subject18").rename(ubfc_root / "Subject18")
    (ubfc_root / "_truth").mkdir()
    (ubfc_root / ".cache").mkdir()
    (ubfc_root / "README.txt").write_text("not a trial\n")
    table, kinds = ing.ingest("ubfc", ubfc_root, CFG)
    got = {r.trial_id: (r.subject, r.status, r.reason) for r in table.itertuples()}
    reason = "folder name does not match the ubfc layout (expected subject<N>)"
    assert got == {"subject1": ("subject1", "ok", ""), "subject 16": ("", "excluded", reason),
                   "Subject18": ("", "excluded", reason)}
    assert kinds == {"folder name does not match the ubfc layout": 2}

    pure_root = tmp_path / "pure"
    _pure(pure_root, 1, 1)
    _pure(pure_root, 1, 2)
    (pure_root / "01-02").rename(pure_root / "1-2")
    assert run("pure", pure_root)["1-2"] == ("excluded", "folder name does not match the pure layout (expected NN-MM)")

    disfa_root = tmp_path / "disfa"
    for sn in (1, 2):
        disfa.write_trial(disfa_root, sn, iter(frames(20, str(sn))), 20.0, {k: np.ones(20, int) for k in (1, 2, 4, 6, 9, 12, 25, 26)})
    vids = disfa_root / "Videos_LeftCamera"
    (vids / "LeftVideoSN002_comp.avi").rename(vids / "LeftVideoSN2_comp.avi")
    (disfa_root / "ActionUnit_Labels" / "SN002").rename(disfa_root / "ActionUnit_Labels" / "sn002")
    got = run("disfa", disfa_root)
    assert got["SN001"] == ("ok", "")
    assert got["Videos_LeftCamera/LeftVideoSN2_comp.avi"] == (
        "excluded", "file name does not match the disfa layout (expected LeftVideoSN<NNN>_comp.avi)")
    assert got["ActionUnit_Labels/sn002"] == ("excluded", "folder name does not match the disfa layout (expected SN<NNN>)")

    bp_root = tmp_path / "bp4d"
    write_bp4d(bp_root, "F002", "T1")
    write_bp4d(bp_root, "F003", "T1")
    (bp_root / "2D+3D" / "F003.zip").rename(bp_root / "2D+3D" / "f003.zip")
    (bp_root / "Physiology" / "F003").rename(bp_root / "Physiology" / "F 003")
    (bp_root / "Physiology" / "F002" / "task6").mkdir()
    got = run("bp4d", bp_root)
    assert got["F002T1"] == ("ok", "")
    assert got["2D+3D/f003.zip"] == ("excluded", "file name does not match the bp4d layout (expected F<NNN>.zip or M<NNN>.zip)")
    assert got["Physiology/F 003"] == ("excluded", "folder name does not match the bp4d layout (expected F<NNN> or M<NNN>)")
    assert got["Physiology/F002/task6"] == ("excluded", "folder name does not match the bp4d layout (expected T<N>)")


def test_duplicate_recordings_are_excluded_and_reported(tmp_path: Path) -> None:
    """The same recording under two subject names keeps the first, excludes the others with
    the reason, and manifest.json lists the group; different recordings are never merged."""
    raw = tmp_path / "raw"
    for sid in (1, 2, 3):
        _ubfc(raw, sid)
    import shutil
    shutil.copytree(raw / "subject1", raw / "subject7")
    shutil.copytree(raw / "subject1", raw / "subject12")
    shutil.copytree(raw / "subject2", raw / "subject5")
    # same video, other labels: a different trial for the fingerprint (labels enter it)
    shutil.copytree(raw / "subject3", raw / "subject9")
    gt = raw / "subject9" / "ground_truth.txt"
    rows = gt.read_text().splitlines()
    gt.write_text("\n".join([rows[0].replace("e-01", "e-02", 1), *rows[1:]]) + "\n")
    table, kinds = ing.ingest("ubfc", raw, CFG)
    got = {r.trial_id: (r.status, r.reason) for r in table.itertuples()}
    assert got == {"subject1": ("ok", ""), "subject2": ("ok", ""), "subject3": ("ok", ""),
                   "subject5": ("excluded", "duplicate recording of subject2"),
                   "subject7": ("excluded", "duplicate recording of subject1"), "subject9": ("ok", ""),
                   "subject12": ("excluded", "duplicate recording of subject1")}
    assert kinds == {"duplicate recording": 3}
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"] = CFG
    out = tmp_path / "manifest.csv"
    ing.write_manifest(table, kinds, out, "ubfc", raw, params)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["duplicate_recordings"] == [{"kept": "subject1", "excluded": ["subject7", "subject12"]},
                                            {"kept": "subject2", "excluded": ["subject5"]}]
    assert meta["counts"]["by_reason"] == {"duplicate recording": 3}
    back = read_manifest(out)
    assert back["au_uncoded_frames"].isna().all() and list(back.columns) == MANIFEST_COLUMNS


def test_stray_rows_place_no_subject_in_the_splits() -> None:
    """A stray row has no subject: the splits neither place nor list an empty subject."""
    from pipeline.splits import make_splits

    rows = [{**dict.fromkeys(MANIFEST_COLUMNS), "dataset": "ubfc", "trial_id": f"subject{i}",
             "subject": f"subject{i}", "status": "ok", "reason": ""} for i in range(1, 7)]
    rows.append({**dict.fromkeys(MANIFEST_COLUMNS), "dataset": "ubfc", "trial_id": "subject 16",
                 "subject": "", "status": "excluded", "reason": "folder name does not match the ubfc layout"})
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    doc = make_splits("ubfc", pd.DataFrame(rows), {**params["splits"], "n_folds": 3}, 0)
    placed = sorted(s for f in doc["folds"] for s in f["test"])
    assert placed == [f"subject{i}" for i in range(1, 7)] and doc["excluded_subjects"] == {}


@pytest.mark.parametrize("stage,args", [
    ("preprocess", ["--raw", "r", "--manifest", "nowhere/manifest.csv", "--out", "o"]),
    ("ingest", ["--raw", "r", "--out", "o.csv"]),
    ("splits", ["--manifest", "nowhere/manifest.csv", "--out", "o.json"]),
])
def test_unknown_dataset_is_named_before_any_file(stage: str, args: list[str], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    argv = [stage, "--dataset", "cohface", "--params", str(tmp_path / "missing.yaml"), *args]
    assert cli(argv) == 1
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: unknown dataset 'cohface' (known: bp4d, disfa, pure, ubfc)"]


def test_unknown_run_is_named_before_any_data_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sheet = str(ROOT / "experiments.yaml")
    argv = ["unsupervised", "--run", "baselines/cohface", "--sheet", sheet, "--params", str(tmp_path / "missing.yaml"),
            "--cache", "c", "--splits", "s.json", "--manifest-summary", "m.json", "--out", "o"]
    assert cli(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {sheet}: no run 'baselines/cohface' (known: baselines/bp4d")
