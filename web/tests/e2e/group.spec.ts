// 6) A group of three in three browser contexts: created, a member added
// and another removed through the Members dialog; the chat events show.
// What the actor's own client shows is checked softly (expect.soft), so a
// failure there still lets the rest of the scenario run.
import { bodies, chatItem, createChat, expect, messages, openChat, send, shot, test, type User } from "./fixtures";

// A chat event about WHO, as seen by VIEWER (who may be WHO: "… added you").
const event = (viewer: User, verb: RegExp, who: string) =>
  viewer.page
    .getByTestId("chat-event")
    .filter({ hasText: verb })
    .filter({ hasText: new RegExp(viewer.name === who ? `\\b(${who}|you)\\b` : `\\b${who}\\b`) });

const soon = { timeout: 5_000 };

test("a group: add and remove members through the Members dialog", async ({ newUser }) => {
  const alice = await newUser("alice");
  const bob = await newUser("bob");
  const carol = await newUser("carol");

  await createChat(alice.page, ["bob"], "Trip");
  await send(alice.page, "welcome bob");
  await openChat(bob.page, "Trip");
  await expect(bodies(bob.page)).toHaveText(["welcome bob"]);
  await expect(chatItem(carol.page, "Trip")).toHaveCount(0);

  // alice adds carol.
  const dialog = alice.page.getByRole("dialog", { name: "Members", exact: true });
  await alice.page.getByRole("button", { name: "Members", exact: true }).click();
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Remove bob", exact: true })).toBeVisible();
  await dialog.getByRole("textbox", { name: "Add members", exact: true }).fill("carol");
  await dialog.getByRole("button", { name: "Add", exact: true }).click();
  await expect(dialog.getByRole("textbox", { name: "Add members", exact: true })).toHaveValue("");
  await expect.soft(dialog.getByRole("button", { name: "Remove carol", exact: true }), "alice's dialog lists carol").toBeVisible(soon);
  await shot(alice.page, "6-group-members-dialog");
  await alice.page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();

  // carol has the group now; everyone sees "added".
  await openChat(carol.page, "Trip");
  for (const u of [bob, carol]) await expect(event(u, /added/, "carol")).toHaveCount(1);
  await expect.soft(event(alice, /added/, "carol"), "alice sees her own 'added carol'").toHaveCount(1, soon);
  await send(carol.page, "hi all");
  for (const u of [alice, bob]) await expect(bodies(u.page)).toHaveText(["welcome bob", "hi all"]);
  await expect(bodies(carol.page)).toContainText(["hi all"]);

  // alice removes bob.
  await alice.page.getByRole("button", { name: "Members", exact: true }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByRole("button", { name: "Remove bob", exact: true }).click();
  await expect.soft(dialog.getByRole("button", { name: "Remove bob", exact: true }), "bob gone from alice's dialog").toHaveCount(0, soon);
  await expect.soft(dialog.getByRole("button", { name: "Remove carol", exact: true })).toBeVisible(soon);
  await alice.page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();

  for (const u of [bob, carol]) await expect(event(u, /removed/, "bob")).toHaveCount(1);
  await expect.soft(event(alice, /removed/, "bob"), "alice sees her own 'removed bob'").toHaveCount(1, soon);

  // what is said after bob left reaches alice and carol, not bob.
  await send(carol.page, "bob is gone");
  await expect(bodies(alice.page)).toHaveText(["welcome bob", "hi all", "bob is gone"]);
  await expect(messages(carol.page).last()).toHaveAttribute("data-state", /^(delivered|read)$/);
  await expect(bodies(bob.page)).toHaveText(["welcome bob", "hi all"]);

  await shot(alice.page, "6-group-alice");
  await shot(carol.page, "6-group-carol");
  await shot(bob.page, "6-group-bob-removed");
});
