"""execution.shared_tensors: inputs the judge owns, seen by the kernel's process with their
layout, its writes read back; outputs rebuilt only from a layout their bytes agree with."""
import pytest
import torch

from harness.execution import shared_tensors as st


def _guarded():
    """A 2x3 view with gaps inside a NaN-filled buffer, as the bounds property hands over."""
    buffer = torch.full((20,), float("nan"))
    view = buffer.as_strided((2, 3), (6, 2), 4)
    view.copy_(torch.arange(6.0).view(2, 3))
    return buffer, view


def test_a_write_in_the_view_or_outside_it_is_what_the_judge_reads_back():
    arena, attached = st.Arena(), st.Attached()
    buffer, view = _guarded()
    shared = arena.shared(view)
    seen = attached.tensor(shared)
    assert seen.stride() == (6, 2) and seen.storage_offset() == 4 and torch.equal(seen, view)
    seen.mul_(10)
    seen.as_strided((1,), (1,), 0).fill_(7.0)  # before the view: a write out of bounds
    arena.read_back(view, shared)
    assert torch.equal(view, 10 * torch.arange(6.0).view(2, 3)) and buffer[0] == 7.0
    assert arena.shared(view).slot == shared.slot, "the same storage, the same file"
    arena.close()


def test_outputs_keep_their_layout_and_a_layout_the_bytes_deny_is_refused():
    out = torch.arange(12.0).view(3, 4).t()
    layout, raw = st.layout_of(out)
    back = st.rebuilt(layout, raw)
    assert torch.equal(back, out) and back.stride() == out.stride()
    with pytest.raises(st.NotALayout):
        st.rebuilt(layout, raw[:-4])
    for bad in ({**layout, "dtype": "pickle"}, {**layout, "shape": [-1, 3]},
                {**layout, "device": "/etc/passwd"}, {"shape": "x"}):
        with pytest.raises(st.NotALayout):
            st.rebuilt(bad, raw)


def test_where_dev_shm_has_no_room_inputs_spill_to_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(st, "SHM_DIR", str(tmp_path / "missing"))
    arena = st.Arena(spill=str(tmp_path))
    shared = arena.shared(torch.ones(4))
    assert shared.slot.startswith(str(tmp_path)) and torch.equal(
        st.Attached().tensor(shared), torch.ones(4))
    arena.close()
    assert not list(tmp_path.glob("convharness-*"))
