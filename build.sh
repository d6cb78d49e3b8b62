#!/usr/bin/env bash
# Certgate build entry point.
#   ./build.sh            restore and build everything (Release)
#   ./build.sh test       install what the tests need (as root, on Debian), build, run every test project,
#                         and end with one line: "N passed, N failed[, N skipped]"
#   ./build.sh test unit  only the unit test projects (fast);  ./build.sh test Certgate.Pki.Tests  one project
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"
ROOT=$PWD
CONFIG=Release

# Debian packages the tests use. Each is installed only when missing.
# The peers the tests run: OpenSSL, PostgreSQL, micromdm SCEP (scep), strongSwan (pki, charon with kernel-libipsec and
# the openssl plugin, swanctl), certmonger, OpenLDAP (slapd, ldap-utils); iperf3 and xxd for bench/; NSS's certutil and
# pk12util and the libraries libreswan's pluto needs beyond those already here (see unpack_libreswan).
# procps gives sysctl and kill, which the scenario tests run inside network namespaces; util-linux gives setpriv
# (a client as another uid, refused by the control socket).
APT_PACKAGES=(openssl ca-certificates postgresql scep strongswan-pki libstrongswan-standard-plugins libstrongswan-extra-plugins strongswan-charon strongswan-swanctl libcharon-extra-plugins certmonger slapd ldap-utils curl iproute2 iputils-ping procps iperf3 tcpdump tcpreplay xxd bird2 libnss3-tools libldns3 libevent-pthreads-2.1-7 util-linux)

# libreswan's pluto, the second IKEv2 peer of the scenario tests (LibreswanIkeTests). Debian's libreswan package
# conflicts with strongSwan's, so it is not installed: its .deb is downloaded and unpacked here, once (skipped when
# pluto is present; delete the directory to fetch it again).
LIBRESWAN_DIR=$ROOT/artifacts/peers/libreswan

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "build.sh: missing Debian packages: ${missing[*]} (run as root on Debian to install them)" >&2
    return 1
  fi
  echo "build.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

unpack_libreswan() {
  [ -x "$LIBRESWAN_DIR/usr/libexec/ipsec/pluto" ] && return 0
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    echo "build.sh: libreswan's pluto is missing from $LIBRESWAN_DIR (run as root on Debian to fetch it)" >&2
    return 1
  fi
  echo "build.sh: fetching libreswan into $LIBRESWAN_DIR"
  local tmp; tmp=$(mktemp -d)
  # apt-get download runs as _apt where it can: let that user write the directory.
  chmod 0755 "$tmp"; id _apt >/dev/null 2>&1 && chown _apt "$tmp"
  if ! (cd "$tmp" && apt-get download -qq libreswan >/dev/null 2>&1); then
    apt-get update -qq >/dev/null
    (cd "$tmp" && apt-get download -qq libreswan >/dev/null)
  fi
  rm -rf "$LIBRESWAN_DIR.partial"; mkdir -p "$LIBRESWAN_DIR.partial"
  dpkg -x "$tmp"/libreswan_*.deb "$LIBRESWAN_DIR.partial"
  rm -rf "$tmp" "$LIBRESWAN_DIR"
  mv "$LIBRESWAN_DIR.partial" "$LIBRESWAN_DIR"
}

build() {
  command -v dotnet >/dev/null || { echo "build.sh: the .NET 10 SDK (dotnet) is not on PATH" >&2; return 1; }
  dotnet build Certgate.slnx -c "$CONFIG" -nologo -clp:ErrorsOnly -v:q
}

# Unit projects first (seconds), then the ones that start real peers.
test_projects() {
  local filter=${1:-all}
  local all=()
  for p in tests/*/*.csproj; do all+=("$(basename "$(dirname "$p")")"); done
  for n in "${all[@]}"; do
    case "$n" in Certgate.Interop.Tests|Certgate.Scenario.Tests) ;; *) [ "$filter" = interop ] || echo "$n" ;; esac
  done
  for n in "${all[@]}"; do
    case "$n" in Certgate.Interop.Tests|Certgate.Scenario.Tests) [ "$filter" = unit ] || echo "$n" ;; esac
  done
}

# How many tests a project holds: what `dotnet test --list-tests` lists (one line per test case, theory rows
# included), so a test host that crashed or was killed part-way cannot pass as a shorter green run.
listed_tests() {
  local n=$1
  dotnet test "tests/$n/$n.csproj" -c "$CONFIG" --no-build -nologo --list-tests 2>/dev/null \
    | sed -n '/The following Tests are available:/,$p' | tail -n +2 | grep -c '^    ' || true
}

# Each project's trx counters against what it holds; a skipped test, a test that did not run, or a project without
# results fails the run. The last line is "N passed, N failed[, N skipped]", tests that did not run counted as failed.
run_tests() {
  local filter=${1:-all}
  local results=$ROOT/artifacts/test-results
  rm -rf "$results"; mkdir -p "$results"
  local projects
  if [ -d "tests/$filter" ]; then projects=$filter; else projects=$(test_projects "$filter"); fi
  local status=0 passed=0 failed=0 skipped=0
  for n in $projects; do
    echo "== $n"
    local held; held=$(listed_tests "$n")
    # A hang names its test: the blame collector ends a test that runs longer than the slowest legitimate one
    # (the scenario tests take up to about 3 minutes on 2 loaded cores) and reports which it was.
    if ! dotnet test "tests/$n/$n.csproj" -c "$CONFIG" --no-build -nologo \
         --blame-hang --blame-hang-timeout 10min --blame-hang-dump-type none \
         --logger "trx;LogFileName=$n.trx" --logger "console;verbosity=minimal" --results-directory "$results"; then
      status=1
    fi
    if [ ! -f "$results/$n.trx" ]; then
      echo "$n: no test results (the test host did not run); its $held test(s) count as failed"
      failed=$((failed + held)); status=1
      continue
    fi
    local line; line=$(grep -o '<Counters [^>]*>' "$results/$n.trx" | head -1)
    local total executed p fl
    total=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$line")
    executed=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$line")
    p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$line")
    fl=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$line")
    passed=$((passed + p)); failed=$((failed + fl + (executed - p - fl))); skipped=$((skipped + total - executed))
    if [ "$total" -ne "$executed" ]; then
      echo "$n: $((total - executed)) test(s) skipped or not executed; every test must run"
      status=1
    fi
    if [ "$held" -eq 0 ] || [ "$total" -lt "$held" ]; then
      echo "$n: holds $held test(s) but $total ran (the test host ended early?); the missing ones count as failed"
      [ "$held" -gt "$total" ] && failed=$((failed + held - total))
      status=1
    fi
  done
  [ "$failed" -gt 0 ] && status=1
  [ "$skipped" -gt 0 ] && status=1
  if [ "$skipped" -gt 0 ]; then echo "$passed passed, $failed failed, $skipped skipped"; else echo "$passed passed, $failed failed"; fi
  return $status
}

case "${1:-build}" in
  build) build ;;
  test)
    install_packages
    unpack_libreswan
    build
    run_tests "${2:-all}"
    ;;
  deps) install_packages; unpack_libreswan ;;
  *) echo "usage: ./build.sh [build|test [unit|interop|PROJECT]|deps]" >&2; exit 2 ;;
esac
