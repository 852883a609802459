"""The role dealer in process: lowest free index first, given back on stop, and a named
timeout when the master never answers (the real master/worker path is tested with real
Locust processes in test_scn_distributed.py)."""

from __future__ import annotations

import pytest

from scenarios.dealing import DealingTimeout, RoleDealer
from scenarios.index_book import IndexBook


def test_the_book_hands_out_the_lowest_free_index_per_role() -> None:
    book = IndexBook()
    assert [book.take("officer") for _ in range(3)] == [0, 1, 2]
    assert book.take("agency") == 0  # roles count apart
    book.give_back("officer", 1)
    book.give_back("officer", 99)  # unknown: ignored
    assert book.take("officer") == 1 and book.take("officer") == 3
    assert book.in_use("officer") == {0, 1, 2, 3}
    book.clear()
    assert book.in_use("officer") == set() and book.take("officer") == 0


def test_a_local_dealer_deals_in_process_lowest_free_first() -> None:
    dealer = RoleDealer()
    assert [dealer.deal("officer") for _ in range(2)] == [0, 1]
    dealer.release("officer", 0)
    assert dealer.deal("officer") == 0 and dealer.deal("agency") == 0


class _RecordingWorker:
    """A worker runner that only records what it would send to the master."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict]] = []

    def send_message(self, kind: str, data: dict) -> None:
        self.sent.append((kind, data))


def test_a_worker_whose_master_never_answers_gets_a_named_timeout() -> None:
    runner = _RecordingWorker()
    dealer = RoleDealer(runner, remote=True, timeout_s=0.05)
    with pytest.raises(DealingTimeout, match="no officer index"):
        dealer.deal("officer")
    assert runner.sent == [("dientap_deal", {"role": "officer", "ask": 1, "wait_s": 0.05})]


def test_a_worker_gives_back_its_stopped_users_indices_in_one_message() -> None:
    """16,000 users stopping at once must not be 16,000 messages: they filled ZMQ's send
    queue at national size and the worker's final statistics were lost."""
    import gevent

    from scenarios.dealing import RELEASE_BATCH_S

    runner = _RecordingWorker()
    dealer = RoleDealer(runner, remote=True)
    for index in range(1000):
        dealer.release("officer", index)
    dealer.release("agency", 7)
    assert runner.sent == []  # gathered, not yet sent
    gevent.sleep(RELEASE_BATCH_S * 3)
    assert runner.sent == [("dientap_release", {"role": "officer", "indices": list(range(1000))}),
                           ("dientap_release", {"role": "agency", "indices": [7]})]
    # The master gives every one of them back.
    master = RoleDealer()
    for _ in range(1000):
        master.book.take("officer", "worker-0")

    class Message:
        def __init__(self, data: dict) -> None:
            self.data = data
            self.node_id = "worker-0"

    master.on_release(None, Message(runner.sent[0][1]))
    assert master.book.in_use("officer") == set()


class _RecordingMaster:
    """A master runner: the workers Locust lists, and what it would send them."""

    def __init__(self, *workers: str) -> None:
        self.clients: dict[str, object] = dict.fromkeys(workers)
        self.sent: list[tuple[str, dict, str]] = []

    def send_message(self, kind: str, data: dict, client_id: str) -> None:
        self.sent.append((kind, data, client_id))


class _Message:
    def __init__(self, node_id: str, data: dict) -> None:
        self.node_id = node_id
        self.data = data


def _dealt(master: RoleDealer, runner: _RecordingMaster, worker: str, role: str = "officer") -> int:
    master.on_deal(None, _Message(worker, {"role": role, "ask": len(runner.sent) + 1}))
    kind, data, to = runner.sent[-1]
    assert (kind, to) == ("dientap_dealt", worker)
    return int(data["index"])


def test_a_dead_workers_indices_are_dealt_again_to_the_users_locust_moves_elsewhere() -> None:
    """A SIGKILLed worker gives nothing back; Locust drops it and hands its users to the
    workers left. Their new users must play the dead worker's slots, not indices past the
    end (slots someone else already plays), and a late give-back from the dead worker must
    not free an index now held by another."""
    runner = _RecordingMaster("w-a", "w-b")
    master = RoleDealer(runner)
    assert [_dealt(master, runner, w) for w in ("w-a", "w-b", "w-a", "w-b")] == [0, 1, 2, 3]
    del runner.clients["w-b"]  # Locust removed the dead worker before redistributing its users
    assert [_dealt(master, runner, "w-a") for _ in range(2)] == [1, 3]
    assert master.book.in_use("officer") == {0, 1, 2, 3}
    master.on_release(None, _Message("w-b", {"role": "officer", "indices": [1, 3]}))  # stale, from the dead one
    assert master.book.in_use("officer") == {0, 1, 2, 3}
    master.on_release(None, _Message("w-a", {"role": "officer", "indices": [3]}))
    assert master.book.in_use("officer") == {0, 1, 2}


def test_the_book_frees_everything_one_holder_holds_and_nothing_else() -> None:
    book = IndexBook()
    assert [book.take("officer", h) for h in ("a", "b", "a")] == [0, 1, 2] and book.take("agency", "a") == 0
    assert book.holders() == {"a", "b"}
    assert book.give_back_all("a") == 3 and book.give_back_all("a") == 0
    assert book.in_use("officer") == {1} and book.in_use("agency") == set() and book.holders() == {"b"}


def _ask(master: RoleDealer, worker: str, ask: int, role: str = "officer", wait_s: float | None = 30.0) -> None:
    master.on_deal(None, _Message(worker, {"role": role, "ask": ask, "wait_s": wait_s}))


def test_a_late_workers_users_wait_for_the_indices_the_old_worker_gives_back() -> None:
    """Locust moves users to a late worker: the old worker stops two, the new one starts two.
    The new users ask before the old worker's give-backs arrive (batched every 0.2 s); dealt
    past the end (4, 5) they replayed slots others played, and 1 and 3 were never dealt
    again. Knowing the role's size, the master holds the asks until the indices come back."""
    runner = _RecordingMaster("w-a")
    master = RoleDealer(runner)
    master.set_size("officer", 4)
    assert [_dealt(master, runner, "w-a") for _ in range(4)] == [0, 1, 2, 3]
    runner.clients["w-late"] = None
    before = len(runner.sent)
    _ask(master, "w-late", 11)
    _ask(master, "w-late", 12)
    assert runner.sent[before:] == []  # held, not dealt past the end
    master.on_release(None, _Message("w-a", {"role": "officer", "indices": [3, 1]}))
    assert [(to, data["ask"], data["index"]) for _, data, to in runner.sent[before:]] == [
        ("w-late", 11, 1), ("w-late", 12, 3)]
    assert master.book.in_use("officer") == {0, 1, 2, 3}


def test_a_held_ask_is_dropped_once_its_user_stopped_waiting_or_its_worker_left() -> None:
    now = [0.0]
    runner = _RecordingMaster("w-a", "w-b", "w-c")
    master = RoleDealer(runner, clock=lambda: now[0])
    master.set_size("officer", 1)
    assert _dealt(master, runner, "w-a") == 0
    _ask(master, "w-b", 7, wait_s=30.0)  # its user gives up after 30 s
    _ask(master, "w-c", 8, wait_s=60.0)
    del runner.clients["w-c"]  # and that worker left
    now[0] = 31.0
    before = len(runner.sent)
    master.on_release(None, _Message("w-a", {"role": "officer", "indices": [0]}))
    assert runner.sent[before:] == [] and master.book.in_use("officer") == set()
    assert _dealt(master, runner, "w-a") == 0  # the freed index goes to the next ask


def test_an_index_dealt_after_its_asker_gave_up_goes_back_to_the_master() -> None:
    import gevent

    from scenarios.dealing import RELEASE_BATCH_S

    runner = _RecordingWorker()
    dealer = RoleDealer(runner, remote=True)
    dealer.on_dealt(None, _Message("master", {"ask": 99, "role": "officer", "index": 3}))  # nobody waits for ask 99
    gevent.sleep(RELEASE_BATCH_S * 1.5)  # the give-back's own timer (0.2 s) comes first
    assert runner.sent == [("dientap_release", {"role": "officer", "indices": [3]})]


def test_sizes_bound_only_the_masters_held_dealing() -> None:
    book = IndexBook()
    book.set_size("officer", 2)
    assert [book.take_if_free("officer") for _ in range(3)] == [0, 1, None]
    book.give_back("officer", 0)
    assert book.take_if_free("officer") == 0
    assert book.take("officer") == 2  # a local runner still deals past the end rather than block
    book.clear()
    assert book.size("officer") == 2 and book.take_if_free("officer") == 0
