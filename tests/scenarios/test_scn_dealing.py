"""The role dealer in process: lowest free index first, given back on stop, and a named
timeout when the master never answers (the real master/worker path is tested with real
Locust processes in test_scn_distributed.py)."""

from __future__ import annotations

import pytest

from scenarios.dealing import DealingTimeout, IndexBook, RoleDealer


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


def test_a_worker_whose_master_never_answers_gets_a_named_timeout() -> None:
    class SilentWorker:
        def __init__(self) -> None:
            self.sent: list[tuple[str, dict]] = []

        def send_message(self, kind: str, data: dict) -> None:
            self.sent.append((kind, data))

    runner = SilentWorker()
    dealer = RoleDealer(runner, remote=True, timeout_s=0.05)
    with pytest.raises(DealingTimeout, match="no officer index"):
        dealer.deal("officer")
    assert runner.sent == [("dientap_deal", {"role": "officer", "ask": 1})]
