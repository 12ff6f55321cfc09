// 1) Two users in two browser contexts: register, create a 1:1 chat and
// exchange messages live. Own messages go sending → sent → delivered/read;
// the other's arrive in order, as "received".
import { bodies, composer, createChat, expect, messages, openChat, recordedStates, send, shot, test } from "./fixtures";

const rank: Record<string, number> = { sending: 0, sent: 1, delivered: 2, read: 3 };

test("two users exchange messages live in a 1:1 chat", async ({ newUser }) => {
  const alice = await newUser("alice");
  const bob = await newUser("bob");

  await createChat(alice.page, ["bob"]);
  await send(alice.page, "hi bob");
  await send(alice.page, "are you there?");

  // bob sees the new chat appear by itself and opens it.
  await openChat(bob.page, "alice");
  await expect(bodies(bob.page)).toHaveText(["hi bob", "are you there?"]);
  await expect(messages(bob.page)).toHaveCount(2);
  for (const m of await messages(bob.page).all()) {
    await expect(m).toHaveAttribute("data-from", "alice");
    await expect(m).toHaveAttribute("data-state", "received");
  }

  // presence: bob is online; while he types, alice sees it
  await expect(alice.page.getByTestId("presence")).toHaveText("online");
  await composer(bob.page).pressSequentially("yes, h");
  await expect(alice.page.getByTestId("presence")).toHaveText(/bob is typing/);
  await composer(bob.page).fill("");
  await send(bob.page, "yes, here");
  await send(bob.page, "what's up?");
  await send(alice.page, "lunch at noon?");
  await send(bob.page, "sure");

  const all = ["hi bob", "are you there?", "yes, here", "what's up?", "lunch at noon?", "sure"];
  const from = ["alice", "alice", "bob", "bob", "alice", "bob"];
  for (const u of [alice, bob]) {
    await expect(bodies(u.page)).toHaveText(all);
    for (const [i, m] of (await messages(u.page).all()).entries()) {
      await expect(m).toHaveAttribute("data-from", from[i]);
      // own messages end delivered or read (both clients are online and
      // looking at the chat); the other's are received
      await expect(m).toHaveAttribute("data-state", from[i] === u.name ? /^(delivered|read)$/ : "received");
    }
    // every message has its server id, once
    const ids = await messages(u.page).evaluateAll((els) => els.map((e) => e.getAttribute("data-message-id")));
    expect(ids.every((id) => id), "every message has a data-message-id").toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  }

  // Each own message went through sent before delivered/read, never back.
  for (const u of [alice, bob]) {
    const states = await recordedStates(u.page);
    const own = from.filter((f) => f === u.name).length;
    expect(Object.keys(states), `${u.name}'s own messages seen`).toHaveLength(own);
    for (const [id, seen] of Object.entries(states)) {
      const ranks = seen.map((s) => rank[s] ?? -1);
      expect(ranks.every((r) => r >= 0), `${u.name} ${id}: ${seen.join(" → ")}`).toBe(true);
      expect(ranks, `${u.name} ${id}: ${seen.join(" → ")} never goes back`).toEqual([...ranks].sort((a, b) => a - b));
      expect(seen, `${u.name} ${id}: ${seen.join(" → ")} passes sent`).toContain("sent");
      expect(["delivered", "read"], `${u.name} ${id}: ${seen.join(" → ")}`).toContain(seen[seen.length - 1]);
    }
  }

  await shot(alice.page, "1-live-chat-alice");
  await shot(bob.page, "1-live-chat-bob");
});
