"""The dedup decision (SPEC §2), row by row, and its invariants under random event sequences."""

from hypothesis import given, settings, strategies as st

from alertgate.dedup.decide import KeyState, Outcome, decide_firing, decide_recovery, decide_update
from alertgate.tickets.model import UNRESOLVED, TicketKind, TicketStatus as S

W, L = 1800.0, 30 * 86400.0


def test_row_1_seen_delivery_is_a_repeat():
    assert decide_firing(KeyState(master_status=S.OPEN), True, 0, W, L) is Outcome.REPEAT


def test_row_2_unresolved_master_makes_a_duplicate():
    for status in (S.OPEN, S.ASSIGNED, S.IN_PROGRESS, S.PENDING_CHANGE, S.SUSPENDED):
        assert decide_firing(KeyState(master_status=status, master_last_at=0), False, 60, W, L) is Outcome.DUPLICATE
    # the window slides from the master's last occurrence
    assert decide_firing(KeyState(master_status=S.OPEN, master_last_at=100), False, 100 + W, W, L) is Outcome.DUPLICATE


def test_past_the_window_an_unresolved_master_is_left_and_the_fault_is_a_new_incident():
    state = KeyState(master_status=S.IN_PROGRESS, master_last_at=100)
    assert decide_firing(state, False, 100 + W + 1, W, L) is Outcome.NEW
    # (rows 4 and 5 as usual: a closed master of the key within the lookback makes it a recurrence)
    state = KeyState(master_status=S.IN_PROGRESS, master_last_at=100, closed_at=50)
    assert decide_firing(state, False, 100 + W + 1, W, L) is Outcome.RECURRENCE


def test_row_3_resolved_master_within_window_reopens():
    state = KeyState(master_status=S.RESOLVED, master_last_at=100)
    assert decide_firing(state, False, 100 + W, W, L) is Outcome.REOPENED
    assert decide_firing(state, False, 100 + W + 1, W, L) is Outcome.NEW


def test_row_4_closed_within_lookback_is_a_recurrence():
    state = KeyState(closed_at=1000)
    assert decide_firing(state, False, 1000 + L, W, L) is Outcome.RECURRENCE
    assert decide_firing(state, False, 1000 + L + 1, W, L) is Outcome.NEW


def test_row_5_otherwise_new():
    assert decide_firing(KeyState(), False, 0, W, L) is Outcome.NEW


def test_recovery_and_update():
    assert decide_recovery(None, None, False, True) is Outcome.IGNORED
    assert decide_recovery(TicketKind.MASTER, S.OPEN, True, True) is Outcome.REPEAT
    assert decide_recovery(TicketKind.MASTER, S.OPEN, False, True) is Outcome.RESOLVED
    assert decide_recovery(TicketKind.MASTER, S.OPEN, False, False) is Outcome.RECOVERED
    assert decide_recovery(TicketKind.DUPLICATE, S.OPEN, False, True) is Outcome.RECOVERED
    assert decide_recovery(TicketKind.MASTER, S.CLOSED, False, True) is Outcome.RECOVERED
    assert decide_update(False, False) is Outcome.IGNORED
    assert decide_update(True, False) is Outcome.UPDATED
    assert decide_update(True, True) is Outcome.REPEAT


# A small simulator of one key over the pure decisions: it is what the Lua script must agree with.
class KeyModel:
    def __init__(self, window: float = W, lookback: float = L) -> None:
        self.window, self.lookback = window, lookback
        self.tickets: dict[int, dict] = {}     # id → {kind, status, master}
        self.master: int | None = None
        self.closed_at: float | None = None
        self.seen: set[tuple[int, str]] = set()
        self.holder: dict[int, int] = {}

    def state(self) -> KeyState:
        m = self.tickets.get(self.master) if self.master is not None else None
        return KeyState(master_status=m["status"] if m else None, master_last_at=m["last_at"] if m else None,
                        closed_at=self.closed_at)

    def fire(self, occ: int, now: float) -> Outcome:
        state = self.state()
        outcome = decide_firing(state, (occ, "firing") in self.seen, now, self.window, self.lookback)
        if outcome in (Outcome.NEW, Outcome.RECURRENCE) and state.master_status in UNRESOLVED:
            # a second open master only once the first went quiet for longer than the window
            assert now - (state.master_last_at or 0) > self.window
        self.seen.add((occ, "firing"))
        if outcome is Outcome.DUPLICATE:
            tid = len(self.tickets)
            self.tickets[tid] = {"kind": TicketKind.DUPLICATE, "status": self.tickets[self.master]["status"], "master": self.master}
            self.holder[occ], self.tickets[self.master]["last_at"] = tid, now
        elif outcome is Outcome.REOPENED:
            self.tickets[self.master]["status"] = S.IN_PROGRESS
            self.holder[occ], self.tickets[self.master]["last_at"] = self.master, now
        elif outcome in (Outcome.NEW, Outcome.RECURRENCE):
            tid = len(self.tickets)
            self.tickets[tid] = {"kind": TicketKind.MASTER, "status": S.OPEN, "master": None, "last_at": now}
            self.master, self.holder[occ] = tid, tid
        return outcome

    def recover(self, occ: int, now: float) -> Outcome:
        tid = self.holder.get(occ)
        t = self.tickets.get(tid) if tid is not None else None
        outcome = decide_recovery(t["kind"] if t else None, t["status"] if t else None, (occ, "resolved") in self.seen, True)
        if t is not None:
            self.seen.add((occ, "resolved"))
        if outcome is Outcome.RESOLVED:
            self.set_master_status(tid, S.RESOLVED)
            t["last_at"] = max(t["last_at"], now)  # (its own: an older master's recovery moves nothing else)
        return outcome

    def close(self, now: float) -> None:
        if self.master is not None and self.tickets[self.master]["status"] is S.RESOLVED:
            self.set_master_status(self.master, S.CLOSED)
            self.master, self.closed_at = None, now

    def set_master_status(self, tid: int, status: S) -> None:
        self.tickets[tid]["status"] = status
        for t in self.tickets.values():
            if t["master"] == tid and t["status"] not in (S.RESOLVED, S.CLOSED):
                t["status"] = status


events = st.lists(st.tuples(st.sampled_from(["fire", "recover", "close"]), st.integers(0, 5),
                            st.floats(0, 4000)), max_size=60)


@settings(max_examples=300)
@given(events)
def test_masters_open_only_past_the_window_and_counts_add_up(sequence):
    model, now, outcomes = KeyModel(), 0.0, []
    for kind, occ, step in sequence:
        now += step
        if kind == "fire":
            outcomes.append(model.fire(occ, now))
        elif kind == "recover":
            outcomes.append(model.recover(occ, now))
        else:
            model.close(now)
    masters = sum(1 for t in model.tickets.values() if t["kind"] is TicketKind.MASTER)
    duplicates = sum(1 for t in model.tickets.values() if t["kind"] is TicketKind.DUPLICATE)
    assert masters == outcomes.count(Outcome.NEW) + outcomes.count(Outcome.RECURRENCE)
    assert duplicates == outcomes.count(Outcome.DUPLICATE)
    # every duplicate hangs off a master
    assert all(model.tickets[t["master"]]["kind"] is TicketKind.MASTER
               for t in model.tickets.values() if t["kind"] is TicketKind.DUPLICATE)
