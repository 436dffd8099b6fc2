/**
 * Vitest global set-up: the suite needs every system tool of `asmgraph setup --test`. A missing one
 * fails the run here, once, with the install line, instead of tests skipping or failing one by one
 * with less to go on. Nothing in the suite is skipped because a tool is absent.
 */
import { packageToolchainDir, systemNeeds } from '../../src/setup/system-packages.js';

export default function checkSystemTools(): void {
  const missing = systemNeeds('test', packageToolchainDir()).filter((n) => !n.find());
  if (!missing.length) return;
  const pkgs = [...new Set(missing.map((n) => n.debianPackage))];
  throw new Error(
    `the test suite needs system tools that are missing: ${missing.map((n) => `${n.tool} (${n.debianPackage}: ${n.why})`).join('; ')}.\n` +
      `Install them with \`npm run setup -- --test\` (as root or with sudo), or: apt-get install -y --no-install-recommends ${pkgs.join(' ')}`,
  );
}
