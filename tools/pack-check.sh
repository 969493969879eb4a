#!/usr/bin/env bash
# Packaging check (run by .ci/run): packs Aperture, Aperture.Lab and the `aperture` tool into a local folder feed, then,
# outside the repository, as a package user would:
#   1. builds a fresh console app that references Aperture and Aperture.Lab from that feed and runs the README's
#      "engine in five lines" example (taken from README.md itself, so the README stays true) and one Fashion-MNIST
#      phenomenon at the quick tier, whose images must come from the subset inside the Aperture package;
#   2. installs the tool with `dotnet tool install --tool-path` and runs `aperture --version`, `aperture lab list` and
#      `aperture report` on the app's store (the tool's own SQLite and drawing libraries);
#   3. checks the tool package is under 40 MB and the library package holds the Fashion-MNIST subset.
# Restores go through a private package folder (so a stale copy of these packages in the machine's NuGet cache is
# never used, and nothing is left in it), with the machine's cache as a read-only fallback for third-party packages;
# whatever that lacks comes from the configured package source (nuget.org, or the copy of it a closed network serves).
# Usage: tools/pack-check.sh [--keep]   (--keep leaves the scratch folder and prints where it is; PACK_CHECK_FEED=DIR
# checks the packages already in DIR instead of packing)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
keep=0; [ "${1:-}" = "--keep" ] && keep=1
work=$(mktemp -d "${TMPDIR:-/tmp}/aperture-pack-check.XXXXXX")
cleanup() { if [ "$keep" = 1 ]; then echo "pack-check: scratch folder kept: $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT
fail() { echo "pack-check: FAILED: $*" >&2; exit 1; }
start=$(date +%s)

feed="$work/feed"
mkdir -p "$feed"
if [ -n "${PACK_CHECK_FEED:-}" ]; then cp "$PACK_CHECK_FEED"/*.nupkg "$feed/"; else
# The tool's pack builds all three projects; the libraries are then packed from that build.
dotnet pack "$root/src/Aperture.Cli" -c Release -o "$feed" -nologo -v q >"$work/pack.log" 2>&1 \
    || { cat "$work/pack.log" >&2; fail "dotnet pack src/Aperture.Cli"; }
for project in src/Aperture src/Aperture.Lab; do
    dotnet pack "$root/$project" -c Release --no-build -o "$feed" -nologo -v q >"$work/pack.log" 2>&1 \
        || { cat "$work/pack.log" >&2; fail "dotnet pack $project"; }
done
fi
version=$(dotnet msbuild "$root/src/Aperture/Aperture.csproj" -getProperty:Version -nologo)
for id in Aperture Aperture.Lab Aperture.Cli; do
    [ -f "$feed/$id.$version.nupkg" ] || fail "no $id.$version.nupkg in the feed ($(ls "$feed"))"
done

# Sizes and contents.
tool_bytes=$(stat -c %s "$feed/Aperture.Cli.$version.nupkg")
limit=$((40 * 1024 * 1024))
echo "pack-check: Aperture.Cli.$version.nupkg is $tool_bytes bytes ($((tool_bytes / 1048576)) MiB; limit 40 MiB)"
[ "$tool_bytes" -lt "$limit" ] || fail "the tool package is $tool_bytes bytes, over 40 MiB"
entries() { python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; }
tool_files=$(entries "$feed/Aperture.Cli.$version.nupkg")
library_files=$(entries "$feed/Aperture.$version.nupkg")
if grep -E '^tools/.*/runtimes/.*\.pdb$' <<<"$tool_files"; then fail "the tool package carries native debug symbols (above)"; fi
grep -qx 'tools/net10.0/any/data/fashion-mnist-subset/train-images-idx3-ubyte.gz' <<<"$tool_files" \
    || fail "the tool package lacks the Fashion-MNIST subset"
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz train-indices-idx1-int32.gz t10k-indices-idx1-int32.gz; do
    grep -qx "contentFiles/any/any/data/fashion-mnist-subset/$f" <<<"$library_files" \
        || fail "the Aperture package lacks the Fashion-MNIST subset's $f"
done

# A NuGet configuration of its own: the folder feed first, then the usual source.
global=$(dotnet nuget locals global-packages --list | sed 's/^global-packages: //')
cat >"$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$feed" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
  </packageSources>
  <packageSourceMapping>
    <packageSource key="local"><package pattern="Aperture" /><package pattern="Aperture.*" /></packageSource>
    <packageSource key="nuget.org"><package pattern="*" /></packageSource>
  </packageSourceMapping>
  <fallbackPackageFolders>
    <add key="machine" value="$global" />
  </fallbackPackageFolders>
</configuration>
XML
export NUGET_PACKAGES="$work/packages"

# 1. A fresh console app.
app="$work/app"
mkdir -p "$app"
cp "$work/nuget.config" "$app/nuget.config"
cat >"$app/App.csproj" <<XML
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <ImplicitUsings>enable</ImplicitUsings>
    <Nullable>enable</Nullable>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="Aperture" Version="[$version]" />
    <PackageReference Include="Aperture.Lab" Version="[$version]" />
  </ItemGroup>
</Project>
XML
# The README's example, verbatim, then checks of what it computed and a phenomenon run from the packages.
example=$(awk '/^## The engine in five lines/{s=1} s&&/^```csharp/{c=1;next} c&&/^```/{exit} c' "$root/README.md")
[ -n "$example" ] || fail "README.md has no csharp block under '## The engine in five lines'"
{
    printf '%s\n' "$example"
    cat <<'CS'
// --- checks appended by tools/pack-check.sh ---
var xs = new[] { 0.5, -1.0, 2.0 };
for (int i = 0; i < xs.Length; i++)
{
    double want = 3 * Math.Cos(3 * xs[i] + 1);
    if (Math.Abs(x.Grad![i].Item() - want) > 1e-12 || Math.Abs(jvp[i].Item() - want) > 1e-12 || Math.Abs(hv[i].Item() - 6 * xs[i]) > 1e-12)
        throw new Exception($"README example: element {i}: grad {x.Grad[i].Item()}, jvp {jvp[i].Item()}, hvp {hv[i].Item()}; expected {want}, {want}, {6 * xs[i]}");
}
Console.WriteLine("readme example: gradient, JVP and HVP match 3cos(3x+1) and 6x");

string subset = Aperture.Data.FashionMnist.FindBuiltInSubset() ?? throw new Exception("the shipped Fashion-MNIST subset was not found");
if (!subset.StartsWith(AppContext.BaseDirectory, StringComparison.Ordinal))
    throw new Exception($"the subset was found outside the app's output (where the package's content files go): {subset}");
Console.WriteLine($"subset: {subset}");

using var store = new Aperture.Lab.Store.RunStore(Path.Combine(AppContext.BaseDirectory, "pack-check.db"));
var runner = new Aperture.Lab.LabRunner(store, new Aperture.Lab.LabDataSource(subset));
var phenomenon = Aperture.Lab.Catalogue.Get("adam-beta2-rounding");
var protocol = Aperture.Lab.LabRunner.Resolve(phenomenon, Aperture.Lab.Tier.Quick);
var outcome = runner.Run(phenomenon, Aperture.Lab.Tier.Quick, protocol);
if (outcome.RunsExecuted + outcome.RunsReused == 0) throw new Exception("the phenomenon ran nothing");
Console.WriteLine($"{outcome.Id} (quick, {outcome.Seeds} seeds, {outcome.RunsExecuted} runs): {outcome.Verdict.Outcome}; data {outcome.DataSource} {outcome.DataFingerprint}");
CS
} >"$app/Program.cs"
(cd "$app" && dotnet build -c Release -nologo -v q >"$work/app-build.log" 2>&1) || { cat "$work/app-build.log" >&2; fail "the console app did not build against the packages"; }
[ -f "$app/bin/Release/net10.0/data/fashion-mnist-subset/train-images-idx3-ubyte.gz" ] \
    || fail "the Aperture package's content files did not copy the Fashion-MNIST subset to the app's output"
(cd "$app" && dotnet bin/Release/net10.0/App.dll) || fail "the console app failed"

# 2. The tool.
dotnet tool install Aperture.Cli --version "$version" --tool-path "$work/tool" --configfile "$work/nuget.config" >"$work/tool.log" 2>&1 \
    || { cat "$work/tool.log" >&2; fail "dotnet tool install"; }
reported=$("$work/tool/aperture" --version) || fail "aperture --version"
echo "pack-check: installed aperture --version: $reported"
case "$reported" in "$version"*) ;; *) fail "aperture --version printed '$reported', expected $version" ;; esac
"$work/tool/aperture" lab list >/dev/null || fail "aperture lab list (installed tool)"
# The report from the console app's store: the installed tool's own SQLite and SkiaSharp native libraries at work.
"$work/tool/aperture" report --store "$app/bin/Release/net10.0/pack-check.db" --output "$work/report" >/dev/null \
    || fail "aperture report (installed tool)"
ls "$work"/report/*.html >/dev/null 2>&1 || fail "aperture report wrote no HTML"
find "$work/report" \( -name '*.png' -o -name '*.svg' \) | grep -q . || fail "aperture report drew no figure"

echo "pack-check: passed in $(( $(date +%s) - start )) s"
