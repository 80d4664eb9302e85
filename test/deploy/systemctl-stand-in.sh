#!/bin/bash
# `systemctl` inside the Debian test tree of test/deploy/debian.sh (installed there as
# /usr/local/sbin/systemctl, ahead of the real one on sudo's PATH). systemd cannot run in a chroot, so
# this runs what a unit would run: ExecStart as User/Group, with Environment and EnvironmentFile (read
# as systemd reads it: KEY=VALUE lines, no shell expansion), WorkingDirectory, UMask, and the
# State/Runtime/Logs directories created with the unit's owner and mode; output goes to
# /var/log/systemctl-stand-in/<unit>.log (the journal). start returns at once (Type=simple); stop sends
# KillSignal to the unit's process group and waits TimeoutStopSec; PartOf= units stop and restart with
# theirs, enabled WantedBy= units start with theirs. Not emulated: Restart=, sandboxing, cgroups,
# dependencies' ordering. daemon-reload runs `systemd-analyze verify` on the installed units.
set -euo pipefail
state=/run/systemctl-stand-in
enabled=/var/lib/systemctl-stand-in/enabled
journal=/var/log/systemctl-stand-in
mkdir -p "$state" "$enabled" "$journal"
say() { echo "systemctl (test stand-in): $*" >&2; }

normalize() { case $1 in *.*) echo "$1" ;; *) echo "$1.service" ;; esac; }
# The unit's file (a template's for an instance) and its instance name.
instance=""
unit_file() {
  local name=$1 file=$1
  instance=""
  if [[ $name =~ ^(.+)@(.+)\.service$ ]]; then
    file="${BASH_REMATCH[1]}@.service"
    instance=${BASH_REMATCH[2]}
  fi
  local dir
  for dir in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    if [ -f "$dir/$file" ]; then
      echo "$dir/$file"
      return 0
    fi
  done
  say "Unit $name not found."
  return 5
}
# Every value of a key in a section, %i replaced; an empty assignment resets the list.
values() {
  awk -v sec="[$3]" -v k="$2" -v inst="$instance" '
    /^\[/ { s = $0; next }
    s == sec && index($0, k "=") == 1 {
      v = substr($0, length(k) + 2); gsub(/%i/, inst, v)
      if (v == "") n = 0; else list[++n] = v
    }
    END { for (i = 1; i <= n; i++) print list[i] }' "$1"
}
value() { values "$1" "$2" "${4:-Service}" | tail -n 1 | grep . || echo "$3"; }

# A unit runs while its process (or one in its process group: setsid made it the leader) is alive
# and no zombie.
group_alive() { ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { f = 1 } END { exit !f }'; }
alive() { [ -f "$state/$1.pid" ] && group_alive "$(cat "$state/$1.pid")"; }
running_units() { for f in "$state"/*.pid; do [ -e "$f" ] && basename "$f" .pid; done; return 0; }

make_dir() { # base name mode owner group
  local base=$1 name=$2 mode=$3 user=$4 group=$5
  mkdir -p "$base/$name"
  chown "$user:$group" "$base/$name"
  chmod "$mode" "$base/$name"
}

start() {
  local unit=$1
  if alive "$unit"; then return 0; fi
  local file
  file=$(unit_file "$unit")
  for key in ExecStartPre ExecStartPost ExecStop ExecReload; do
    if [ -n "$(values "$file" "$key" Service)" ]; then
      say "$unit: $key is not emulated by the test stand-in"
      return 1
    fi
  done
  local user group dir mode wd umask_ exec
  user=$(value "$file" User root)
  group=$(value "$file" Group "$(id -gn "$user")")
  while read -r dir; do
    [ -n "$dir" ] || continue
    mode=$(value "$file" StateDirectoryMode 0755)
    for d in $dir; do make_dir /var/lib "$d" "$mode" "$user" "$group"; done
  done < <(values "$file" StateDirectory Service)
  while read -r dir; do
    [ -n "$dir" ] || continue
    mode=$(value "$file" RuntimeDirectoryMode 0755)
    for d in $dir; do make_dir /run "$d" "$mode" "$user" "$group"; done
  done < <(values "$file" RuntimeDirectory Service)
  while read -r dir; do
    [ -n "$dir" ] || continue
    mode=$(value "$file" LogsDirectoryMode 0755)
    for d in $dir; do make_dir /var/log "$d" "$mode" "$user" "$group"; done
  done < <(values "$file" LogsDirectory Service)
  wd=$(value "$file" WorkingDirectory /)
  wd=${wd#-}
  umask_=$(value "$file" UMask 0022)
  exec=$(value "$file" ExecStart "")
  exec=${exec#[-@+!:]}
  [ -n "$exec" ] || { say "$unit has no ExecStart"; return 1; }

  local home shell
  home=$(getent passwd "$user" | cut -d: -f6)
  shell=$(getent passwd "$user" | cut -d: -f7)
  local -a env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin "HOME=$home" "USER=$user" "LOGNAME=$user" "SHELL=$shell" LANG=C.UTF-8)
  local line
  while read -r line; do
    local -a words
    eval "words=($line)" # Environment= is space-separated assignments, quotes allowed
    env+=("${words[@]}")
  done < <(values "$file" Environment Service)
  local envfile optional
  while read -r envfile; do
    [ -n "$envfile" ] || continue
    optional=""
    if [[ $envfile == -* ]]; then optional=1; envfile=${envfile#-}; fi
    if [ ! -r "$envfile" ]; then
      [ -n "$optional" ] && continue
      say "$unit: cannot read EnvironmentFile $envfile"
      return 1
    fi
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line#"${line%%[![:space:]]*}"}
      case $line in '' | '#'* | ';'*) continue ;; esac
      local k=${line%%=*} v=${line#*=}
      v=${v%"${v##*[![:space:]]}"}
      if [[ $v =~ ^\"(.*)\"$ || $v =~ ^\'(.*)\'$ ]]; then v=${BASH_REMATCH[1]}; fi
      env+=("$k=$v")
    done < "$envfile"
  done < <(values "$file" EnvironmentFile Service)

  local -a argv
  read -ra argv <<< "$exec"
  (
    cd "$wd"
    umask "$umask_"
    exec setsid env -i "${env[@]}" setpriv --reuid="$user" --regid="$group" --init-groups -- "${argv[@]}" \
      >> "$journal/$unit.log" 2>&1 < /dev/null
  ) &
  echo $! > "$state/$unit.pid"
  say "started $unit (pid $!): $exec, as $user, in $wd, umask $umask_; output in $journal/$unit.log"
  # Enabled units that the unit wants (WantedBy=) start with it.
  local other
  for other in $(ls "$enabled"); do
    local ofile
    ofile=$(unit_file "$other") || continue
    if values "$ofile" WantedBy Install | tr ' ' '\n' | grep -qx "$unit"; then start "$other"; fi
  done
}

stop() {
  local unit=$1 other
  # Units that are PartOf= this one stop with it (first: they are ordered after it).
  for other in $(running_units); do
    [ "$other" != "$unit" ] || continue
    local ofile
    ofile=$(unit_file "$other") || continue
    if values "$ofile" PartOf Unit | tr ' ' '\n' | grep -qx "$unit"; then stop "$other"; fi
  done
  alive "$unit" || { rm -f "$state/$unit.pid"; return 0; }
  local file pid signal timeout
  file=$(unit_file "$unit")
  pid=$(cat "$state/$unit.pid")
  signal=$(value "$file" KillSignal SIGTERM)
  timeout=$(value "$file" TimeoutStopSec 90)
  timeout=${timeout%s}
  [ "$timeout" != 0 ] && [ "$timeout" != infinity ] || timeout=90
  kill -s "${signal#SIG}" -- "-$pid" 2>/dev/null || true
  local waited=0
  while group_alive "$pid"; do
    if [ "$waited" -ge $((timeout * 10)) ]; then
      say "$unit did not stop within ${timeout}s: SIGKILL"
      kill -s KILL -- "-$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$state/$unit.pid"
  say "stopped $unit ($signal, $((waited / 10)).$((waited % 10)) s)"
}

restart() {
  local unit=$1 other
  local -a parts=()
  for other in $(running_units); do
    [ "$other" != "$unit" ] || continue
    local ofile
    ofile=$(unit_file "$other") || continue
    if values "$ofile" PartOf Unit | tr ' ' '\n' | grep -qx "$unit"; then parts+=("$other"); fi
  done
  stop "$unit"
  start "$unit"
  for other in "${parts[@]}"; do start "$other"; done
}

verb=${1:-}
shift || true
now=""
units=()
for arg in "$@"; do
  case $arg in
    --now) now=1 ;;
    --no-pager | --quiet | -q) ;;
    -*) say "option $arg is not emulated"; exit 1 ;;
    *) units+=("$(normalize "$arg")") ;;
  esac
done

case $verb in
  daemon-reload)
    # What systemd would say about the installed units when it loads them.
    status=0
    for f in /etc/systemd/system/*.service; do
      [ -f "$f" ] && [ ! -L "$f" ] || continue # units put there (packages' enablement links are not)
      name=$(basename "$f")
      target=$f
      if [[ $name == *@.service ]]; then # a template is verified as an instance
        target=$(mktemp -d)/${name%@.service}@1.service
        cp "$f" "$target"
      fi
      if out=$(systemd-analyze verify --man=no "$target" 2>&1); then
        say "systemd-analyze verify $name: ok${out:+ ($out)}"
      else
        say "systemd-analyze verify $name failed: $out"
        status=1
      fi
    done
    exit $status
    ;;
  enable | disable)
    for u in "${units[@]}"; do
      unit_file "$u" > /dev/null
      if [ "$verb" = enable ]; then touch "$enabled/$u"; else rm -f "$enabled/$u"; fi
      say "${verb}d $u"
      if [ -n "$now" ]; then
        if [ "$verb" = enable ]; then start "$u"; else stop "$u"; fi
      fi
    done
    ;;
  start) for u in "${units[@]}"; do start "$u"; done ;;
  stop) for u in "${units[@]}"; do stop "$u"; done ;;
  restart) for u in "${units[@]}"; do restart "$u"; done ;;
  is-active)
    status=0
    for u in "${units[@]}"; do
      if alive "$u"; then echo active; else echo inactive; status=3; fi
    done
    exit $status
    ;;
  status)
    for u in "${units[@]}"; do
      if alive "$u"; then echo "$u: active (running), pid $(cat "$state/$u.pid")"; else echo "$u: inactive"; fi
      tail -n 5 "$journal/$u.log" 2>/dev/null || true
    done
    ;;
  stop-all) for u in $(running_units); do stop "$u"; done ;;
  *)
    say "'$verb' is not emulated"
    exit 1
    ;;
esac
