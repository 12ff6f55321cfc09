"""crash_soak_checker: the soak's history checker can fail.

Builds a small history that keeps the delivery contract, checks that it
passes, then plants one violation at a time (a dropped delivery, a
duplicate, a reused seq, a message nobody sent, ...) and checks that each is
reported under its own kind. Run: /usr/bin/python3 tests/soak/history_test.py
"""

import copy
import os
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import history  # noqa: E402
from history import Chat, ClientLog, History, Send, body_digest  # noqa: E402


def message_key(send, mid, ts):
    return ("message", mid, send.chat, send.user, send.client, send.cmid, ts, send.digest)


def chat_key(chat_id, members, by):
    return ("chat", chat_id, "created", tuple(sorted(members)), by)


def good_history():
    """a has clients a1, a2; b has b1; c has c1. Chat X = {a, b} made by a1,
    group G = {a, b, c} made by b1. a1 sends m1 in X, b1 sends m2 in G."""
    users = {"a": ["a1", "a2"], "b": ["b1"], "c": ["c1"]}
    chats = {"X": Chat(("a", "b"), "a1"), "G": Chat(("a", "b", "c"), "b1")}
    m1 = Send("a1", "a", "c-1", "X", body_digest("hello"), oks=[("m1", 10), ("m1", 10)],
              attempts=2)
    m2 = Send("b1", "b", "c-1", "G", body_digest("hi all"), oks=[("m2", 11)], attempts=1)
    k1, k2 = message_key(m1, "m1", 10), message_key(m2, "m2", 11)
    gx, gg = chat_key("X", ("a", "b"), "a"), chat_key("G", ("a", "b", "c"), "b")
    clients = {
        "a1": ClientLog("a1", "a", [(1, gg), (2, k2)], [(0, 0, "e"), (1, 2, "e")]),
        # a2 sees seq 3 twice (a resend after a restart): deduplicated.
        "a2": ClientLog("a2", "a", [(1, gx), (2, gg), (3, k1), (3, k1), (4, k2)], [(0, 4, "e")]),
        "b1": ClientLog("b1", "b", [(1, gx), (2, k1)], [(0, 2, "e")]),
        "c1": ClientLog("c1", "c", [(1, gg), (2, k2)], [(0, 2, "e")]),
    }
    return History(users, chats, [m1, m2], clients)


class CheckerTest(unittest.TestCase):
    def kinds(self, h):
        return set(history.check(h).by_kind())

    def test_good_history_passes(self):
        report = history.check(good_history())
        self.assertEqual(report.violations, [])
        self.assertEqual(report.stats["deliveries_due"], 5)
        self.assertEqual(report.stats["deliveries"], 5)
        self.assertEqual(report.stats["redeliveries"], 1)

    def test_dropped_delivery_is_lost_and_a_gap(self):
        h = good_history()
        h.clients["a2"].arrivals = [a for a in h.clients["a2"].arrivals if a[0] != 3]
        self.assertEqual(self.kinds(h), {"lost", "gap"})

    def test_dropped_last_delivery_is_lost(self):
        h = good_history()
        h.clients["c1"].arrivals.pop()
        self.assertEqual(self.kinds(h), {"lost"})

    def test_same_message_at_two_seqs_is_a_duplicate(self):
        h = good_history()
        h.clients["b1"].arrivals.append((3, h.clients["b1"].arrivals[1][1]))
        self.assertEqual(self.kinds(h), {"duplicate"})

    def test_seq_with_other_content_is_reuse(self):
        h = good_history()
        other = ("other", "receipt", "{}")
        h.clients["c1"].arrivals.append((2, other))
        self.assertEqual(self.kinds(h), {"seq reused"})

    def test_message_nobody_sent(self):
        h = good_history()
        ghost = ("message", "m9", "G", "b", "b1", "c-9", 12, body_digest("?"))
        h.clients["c1"].arrivals.append((3, ghost))
        self.assertEqual(self.kinds(h), {"never sent"})

    def test_changed_body(self):
        h = good_history()
        k = list(h.clients["c1"].arrivals[1][1])
        k[7] = body_digest("hi al")
        h.clients["c1"].arrivals[1] = (2, tuple(k))
        self.assertEqual(self.kinds(h), {"content"})

    def test_message_to_a_non_member(self):
        h = good_history()
        h.clients["c1"].arrivals.append((3, h.clients["b1"].arrivals[1][1]))
        self.assertEqual(self.kinds(h), {"not a recipient"})

    def test_two_message_ids_for_one_send(self):
        h = good_history()
        h.sends[0].oks.append(("m7", 10))
        # m7 was ok'd too, so its recipients are owed it as well.
        self.assertEqual(self.kinds(h), {"idempotency", "lost"})

    def test_one_message_id_for_two_sends(self):
        h = good_history()
        h.sends[1].oks.append(("m1", 10))
        self.assertIn("idempotency", self.kinds(h))

    def test_send_never_ok_d(self):
        h = good_history()
        h.sends.append(Send("c1", "c", "c-5", "G", body_digest("x"), attempts=3))
        self.assertEqual(self.kinds(h), {"send unresolved"})

    def test_head_below_after(self):
        h = good_history()
        h.clients["a1"].hellos.append((2, 1, "e"))
        self.assertEqual(self.kinds(h), {"head went back"})

    def test_new_epoch(self):
        h = good_history()
        h.clients["b1"].hellos.append((2, 2, "f"))
        self.assertEqual(self.kinds(h), {"epoch changed"})

    def test_chat_event_twice(self):
        h = good_history()
        log = h.clients["c1"]
        # the same event again at a second seq
        log.arrivals = [log.arrivals[0], (2, log.arrivals[0][1]), (3, log.arrivals[1][1])]
        self.assertEqual(self.kinds(h), {"chat event"})

    def test_check_does_not_change_its_input(self):
        h = good_history()
        before = copy.deepcopy(h)
        history.check(h)
        self.assertEqual(h, before)


if __name__ == "__main__":
    unittest.main()
