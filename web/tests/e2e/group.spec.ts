// 6) A group of three in three browser contexts: created, a member added
// and another removed through the Members dialog; the chat events show.
import { bodies, chatItem, createChat, expect, messages, openChat, send, shot, test } from "./fixtures";

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
  await alice.page.getByRole("button", { name: "Members", exact: true }).click();
  const dialog = alice.page.getByRole("dialog", { name: "Members", exact: true });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole("button", { name: "Remove bob", exact: true })).toBeVisible();
  await dialog.getByRole("textbox", { name: "Add members", exact: true }).fill("carol");
  await dialog.getByRole("button", { name: "Add", exact: true }).click();
  await expect(dialog.getByRole("button", { name: "Remove carol", exact: true })).toBeVisible();
  await shot(alice.page, "6-group-members-dialog");
  await alice.page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();

  // carol has the group now; everyone sees "added".
  await openChat(carol.page, "Trip");
  for (const u of [alice, bob, carol]) {
    await expect(u.page.getByTestId("chat-event").filter({ hasText: /added/ }).filter({ hasText: /carol/ })).toHaveCount(1);
  }
  await send(carol.page, "hi all");
  for (const u of [alice, bob]) await expect(bodies(u.page)).toHaveText(["welcome bob", "hi all"]);
  await expect(bodies(carol.page)).toContainText(["hi all"]);

  // alice removes bob.
  await alice.page.getByRole("button", { name: "Members", exact: true }).click();
  await expect(dialog).toBeVisible();
  await dialog.getByRole("button", { name: "Remove bob", exact: true }).click();
  await expect(dialog.getByRole("button", { name: "Remove bob", exact: true })).toHaveCount(0);
  await expect(dialog.getByRole("button", { name: "Remove carol", exact: true })).toBeVisible();
  await alice.page.keyboard.press("Escape");
  await expect(dialog).toBeHidden();

  for (const u of [alice, bob, carol]) {
    await expect(u.page.getByTestId("chat-event").filter({ hasText: /removed/ }).filter({ hasText: /bob/ })).toHaveCount(1);
  }

  // what is said after bob left reaches carol, not bob.
  await send(carol.page, "bob is gone");
  await expect(bodies(alice.page)).toHaveText(["welcome bob", "hi all", "bob is gone"]);
  await expect(messages(carol.page).last()).toHaveAttribute("data-state", /^(delivered|read)$/);
  await expect(bodies(bob.page)).toHaveText(["welcome bob", "hi all"]);

  await shot(alice.page, "6-group-alice");
  await shot(carol.page, "6-group-carol");
  await shot(bob.page, "6-group-bob-removed");
});
