"""The protocol v2 fetch arguments that change how the answer is sent:
wait-for-done, no-progress and include-tag, raw requests compared with the
reference up to the pack (and the pack's objects)."""

import pytest

from helpers import (check_pack, demux_sideband, fetch_outcome,
                     parse_pkt_lines,
                     rpc_both, v2_request)


def ids(git, server):
    path = server.root / "small.git"
    return {k: git("rev-parse", k, cwd=path)
            for k in ("main", "main~4", "release/1.0")}


@pytest.mark.parametrize("case", ["haves", "haves and done", "no wants",
                                  "no wants, haves"])
def test_wait_for_done_same_as_reference(git, server, tmp_path, case):
    o = ids(git, server)
    args = {
        "haves": ["want " + o["main"], "have " + o["main~4"]],
        "haves and done": ["want " + o["main"], "have " + o["main~4"],
                           "done"],
        "no wants": [],
        "no wants, haves": ["have " + o["main~4"]],
    }[case]
    body = v2_request("fetch", ["wait-for-done", "ofs-delta", "no-progress"]
                      + args)
    res = rpc_both(server, "small.git", body)
    ref, mod = res["reference"], res["module"]
    assert ref.status == 200 and mod.status == 200, mod
    ref_items = parse_pkt_lines(ref.body, stop_at_pack=True)[0] \
        if b"packfile\n" in ref.body else parse_pkt_lines(ref.body)
    mod_items = parse_pkt_lines(mod.body, stop_at_pack=True)[0] \
        if b"packfile\n" in mod.body else parse_pkt_lines(mod.body)
    assert mod_items == ref_items
    if case == "haves":
        # never "ready" before the client says done
        assert b"ready\n" not in ref_items and ref_items[-1] == "flush"
    if b"packfile\n" in ref.body:
        assert fetch_outcome(git, mod, tmp_path / "m") == \
            fetch_outcome(git, ref, tmp_path / "r")


@pytest.mark.parametrize("progress", [True, False], ids=["progress",
                                                         "no-progress"])
def test_no_progress(git, server, progress):
    o = ids(git, server)
    args = ["ofs-delta", "want " + o["main"], "done"]
    if not progress:
        args.insert(0, "no-progress")
    res = rpc_both(server, "small.git", v2_request("fetch", args))
    for side, resp in res.items():
        assert resp.status == 200, (side, resp.body[:200])
        items, rest = parse_pkt_lines(resp.body, stop_at_pack=True)
        assert items and items[-1] == b"packfile\n", (side, items)
        pack, messages, error = demux_sideband(parse_pkt_lines(rest))
        assert not error
        assert check_pack(pack) > 0, side
        assert bool(messages) == progress, (side, messages)


@pytest.mark.parametrize("include_tag", [True, False],
                         ids=["include-tag", "without"])
def test_include_tag(git, server, tmp_path, include_tag):
    o = ids(git, server)
    args = ["ofs-delta", "no-progress", "want " + o["release/1.0"], "done"]
    if include_tag:
        args.insert(0, "include-tag")
    res = rpc_both(server, "small.git", v2_request("fetch", args))
    ref_out = fetch_outcome(git, res["reference"], tmp_path / "r")
    tag = git("rev-parse", "v1.0", cwd=server.root / "small.git")
    assert (tag in ref_out[2]) == include_tag
    assert fetch_outcome(git, res["module"], tmp_path / "m") == ref_out
