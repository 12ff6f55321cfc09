// 7) The same user on two devices; one revokes the other on the Devices
// page: the revoked one is back at the login screen, told why.
import { PASSWORD, connection, expect, newContext, shot, test } from "./fixtures";

test("a device revoked elsewhere is logged out", async ({ newUser }) => {
  const laptop = await newUser("alice", { device: "laptop" });
  const phone = await newUser("alice", { device: "phone", login: true });

  await phone.page.getByRole("button", { name: "Devices", exact: true }).click();
  await expect(phone.page.getByRole("heading", { name: "Devices", exact: true })).toBeVisible();
  const list = phone.page.getByRole("list", { name: "Devices", exact: true });
  const devices = list.getByTestId("device");
  await expect(devices).toHaveCount(2);
  const self = devices.filter({ hasText: "This device" });
  await expect(self).toHaveCount(1);
  await expect(self).toContainText("phone");
  await expect(self.getByRole("button", { name: /^Revoke/ })).toHaveCount(0);
  await shot(phone.page, "7-devices");

  await devices.filter({ hasText: "laptop" }).getByRole("button", { name: "Revoke laptop", exact: true }).click();
  await expect(devices).toHaveCount(1);
  await expect(devices).toContainText("phone");

  // the laptop is told, and shows the login screen
  await expect(laptop.page.getByRole("alert").filter({ hasText: "This device was logged out" })).toBeVisible({
    timeout: 20_000,
  });
  await expect(laptop.page.getByRole("button", { name: "Log in", exact: true })).toBeVisible();
  await expect(laptop.page.getByLabel("User name", { exact: true })).toBeVisible();
  await expect(laptop.page.getByTestId("me")).toHaveCount(0);
  await shot(laptop.page, "7-revoked-laptop");

  // the phone carries on
  await phone.page.getByRole("button", { name: "Back to chats", exact: true }).click();
  await expect(connection(phone.page)).toHaveAttribute("data-state", "online");
});

// ferryd allows 3 active clients per user: a 4th login lists the devices
// ("Your devices"); revoking one retries the login by itself.
test("too many devices: revoke one from the login screen and get in", async ({ browser, ferryd, newUser }) => {
  const first = await newUser("alice", { device: "one" });
  await newUser("alice", { device: "two", login: true });
  await newUser("alice", { device: "three", login: true });

  const context = await newContext(browser, ferryd);
  try {
    const page = await context.newPage();
    await page.goto("/");
    await page.getByLabel("User name", { exact: true }).fill("alice");
    await page.getByLabel("Password", { exact: true }).fill(PASSWORD);
    await page.getByLabel("Device name", { exact: true }).fill("four");
    await page.getByRole("button", { name: "Log in", exact: true }).click();
    const list = page.getByRole("list", { name: "Your devices", exact: true });
    await expect(list).toBeVisible();
    for (const d of ["one", "two", "three"]) {
      await expect(list.getByRole("button", { name: `Revoke ${d}`, exact: true })).toBeVisible();
    }
    await shot(page, "7-too-many-devices");
    await list.getByRole("button", { name: "Revoke one", exact: true }).click();
    await expect(page.getByTestId("me")).toHaveText("alice");
    await expect(connection(page)).toHaveAttribute("data-state", "online");
    await expect(first.page.getByRole("alert").filter({ hasText: "This device was logged out" })).toBeVisible({
      timeout: 20_000,
    });
  } finally {
    await context.close();
  }
});
