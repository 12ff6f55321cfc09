// Browser tests of the web client: Debian's chromium (never a downloaded
// browser), headless, against a real ferryd per test (tests/e2e/fixtures.ts).
//   FERRYD=../build/release/apps/ferryd/ferryd npx playwright test
// FERRY_SCREENSHOT_DIR: where shot() saves (default ../build/web-screenshots).
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "tests/e2e",
  outputDir: "test-results",
  fullyParallel: true,
  workers: 2, // make test-web: WEB_WORKERS=N
  retries: 0,
  forbidOnly: true,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    headless: true,
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
    screenshot: "only-on-failure",
    trace: "off",
    launchOptions: {
      executablePath: process.env.FERRY_CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
});
