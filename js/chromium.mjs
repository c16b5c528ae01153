// Headless Chromium for the browser tests and benchmarks: Debian's `chromium` (installed by
// scripts/setup.sh) driven by playwright-core, which downloads no browser of its own.
import { chromium } from "playwright-core";
import fs from "node:fs";

const CANDIDATES = [process.env.SCORELET_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"];

/** Launches headless Chromium; throws naming the setup step when it is missing. */
export async function launch() {
  const executablePath = CANDIDATES.find((p) => p && fs.existsSync(p));
  if (!executablePath) throw new Error("no Chromium found: run scripts/setup.sh (it installs Debian's chromium) or set SCORELET_CHROMIUM");
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath, args: ["--no-sandbox", "--disable-dev-shm-usage"] });
}
