/// <reference lib="dom" />
// Full-page screenshot of a built report (for docs/img/report.png):
//   npx tsx test/report/screenshot.ts <report dir or index.html> <out.png>
// Fails on console errors, failed requests or undecoded images, like the browser test.
import { statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { launchChromium, openWatched } from "./browser.js";

const [target, out] = process.argv.slice(2);
if (!target || !out) throw new Error("usage: screenshot.ts <report dir or index.html> <out.png>");
const file = statSync(target).isDirectory() ? join(target, "index.html") : target;
const browser = await launchChromium();
try {
  const { page, problems, failedRequests } = await openWatched(browser, pathToFileURL(resolve(file)).href);
  const broken = await page.$$eval("img", (imgs) => imgs.filter((i) => !(i as HTMLImageElement).naturalWidth).map((i) => i.getAttribute("src")));
  if (problems.length || failedRequests.length || broken.length) throw new Error(`report has problems: ${JSON.stringify({ problems, failedRequests, broken })}`);
  await page.screenshot({ path: out, fullPage: true });
  console.log(`${out}: ${await page.evaluate(() => document.documentElement.scrollHeight)} px tall, ${await page.$$eval("img", (i) => i.length)} images`);
} finally {
  await browser.close();
}
