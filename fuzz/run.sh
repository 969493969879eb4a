#!/usr/bin/env bash
# Fuzzes Aperture's file parsers with AFL++ through SharpFuzz (see docs/reliability.md).
#
#   fuzz/run.sh [--seconds N | --execs N] [--out DIR] [--strict] [TARGET...]
#
# Targets: idx safetensors npy csv checkpoint state (default: all, one after another). Each target fuzzes its seed
# corpus fuzz/corpus/TARGET, with the tokens of fuzz/dict/TARGET.dict, for N seconds (default 8) or N executions, with a 1 s limit per input; findings land in
# DIR/TARGET/default/{crashes,hangs} (default DIR: fuzz/out, ignored by git) and are replayed to name the exception.
# Without afl-fuzz, or without the SharpFuzz tool (dotnet tool restore), it says so and only replays the corpus.
# Exit status: non-zero if the harness fails or a seed input fails; with --strict also if fuzzing found anything.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=8 execs="" out=fuzz/out strict=0 targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --execs) execs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --strict) strict=1; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        -*) echo "fuzz/run.sh: unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(idx safetensors npy csv checkpoint state)

# Two copies: bin runs inputs in-process (replay); afl-bin has Aperture.dll instrumented for AFL++, and crashes
# outside afl-fuzz (its coverage map is AFL's shared memory).
bin="$out/bin" afl="$out/afl-bin"
rm -rf "$bin" "$afl"
mkdir -p "$out"
dotnet publish fuzz/Aperture.Fuzz -c Release -o "$bin" --nologo -v quiet >/dev/null
cp -r "$bin" "$afl"

# The seed corpus must read cleanly whether or not AFL++ is here.
for t in "${targets[@]}"; do
    dotnet "$bin/Aperture.Fuzz.dll" replay "$t" "fuzz/corpus/$t"
done

if ! command -v afl-fuzz >/dev/null 2>&1; then
    echo "fuzz: afl-fuzz not found (Debian package afl++): replayed the seed corpus only"
    exit 0
fi
if ! dotnet tool restore >/dev/null 2>&1 || ! dotnet tool run sharpfuzz "$afl/Aperture.dll" >/dev/null; then
    echo "fuzz: could not restore or run the SharpFuzz tool (dotnet tool restore): replayed the seed corpus only"
    exit 0
fi

export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
limit=(-V "$seconds")
[ -n "$execs" ] && limit=(-E "$execs")
found=0
printf '%-12s %12s %10s %8s %8s %8s\n' target executions exec/s seconds crashes hangs
for t in "${targets[@]}"; do
    rm -rf "${out:?}/$t"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=(-x "fuzz/dict/$t.dict")
    stats="$out/$t/default/fuzzer_stats"
    if ! afl-fuzz "${limit[@]}" "${dict[@]}" -i "fuzz/corpus/$t" -o "$out/$t" -t 1000 -m none -- dotnet "$afl/Aperture.Fuzz.dll" "$t" >"$out/$t.log" 2>&1; then
        tail -5 "$out/$t.log"
        # AFL++ that cannot start here at all (no shared memory, a refused fork server) is like AFL++ not installed;
        # one that started and then failed is a harness error.
        if [ ! -f "$stats" ] && [ "$strict" -eq 0 ]; then
            echo "fuzz: afl-fuzz could not start on this machine (see $out/$t.log): replayed the seed corpus only"
            exit 0
        fi
        echo "fuzz: afl-fuzz failed on $t; see $out/$t.log"
        exit 1
    fi
    value() { awk -F': *' -v k="$1" '$1 ~ "^"k" *$" {print $2}' "$stats"; }
    printf '%-12s %12s %10s %8s %8s %8s\n' "$t" "$(value execs_done)" "$(value execs_per_sec)" "$(value run_time)" "$(value saved_crashes)" "$(value saved_hangs)"
    for kind in crashes hangs; do
        dir="$out/$t/default/$kind"
        if compgen -G "$dir/id:*" >/dev/null; then
            found=1
            echo "  $kind in $dir:"
            dotnet "$bin/Aperture.Fuzz.dll" replay "$t" "$dir" | sed 's/^/    /' || true
        fi
    done
done
if [ "$found" -eq 1 ]; then
    echo "fuzz: findings above (reproduce with: dotnet $bin/Aperture.Fuzz.dll replay TARGET FILE)"
    [ "$strict" -eq 1 ] && exit 1
fi
exit 0
