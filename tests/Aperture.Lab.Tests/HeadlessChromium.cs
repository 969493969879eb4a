using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Aperture.Lab.Tests;

/// <summary>
/// Debian's Chromium, headless, driven over the DevTools protocol with a plain WebSocket: enough to open a page,
/// evaluate JavaScript in it and take a screenshot. Nothing is downloaded; the browser must be installed
/// (.ci/run installs Debian's chromium package).
/// </summary>
internal sealed partial class HeadlessChromium : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ClientWebSocket _socket = new();
    private readonly ConcurrentDictionary<int, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly string _profile;
    private readonly CancellationTokenSource _stop = new();
    private int _nextId;
    private Task _receiver = Task.CompletedTask;

    private HeadlessChromium(Process process, string profile)
    {
        _process = process;
        _profile = profile;
    }

    /// <summary>The browser's path: $APERTURE_CHROMIUM, else chromium or chromium-browser on the PATH; null if none.</summary>
    public static string? Find()
    {
        if (Environment.GetEnvironmentVariable("APERTURE_CHROMIUM") is { Length: > 0 } env && File.Exists(env)) return env;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Append("/usr/bin"))
            foreach (var name in new[] { "chromium", "chromium-browser" })
            {
                string p = Path.Combine(dir, name);
                if (File.Exists(p)) return p;
            }
        return null;
    }

    /// <summary>Starts the browser with a fresh profile and connects to it.</summary>
    public static async Task<HeadlessChromium> LaunchAsync(string executable, CancellationToken ct)
    {
        string profile = Path.Combine(Path.GetTempPath(), "aperture-chromium-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(profile);
        var psi = new ProcessStartInfo(executable) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        // Without the networking flags Chromium tries Google's services at start, which a closed network refuses.
        foreach (var a in new[]
        {
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-default-apps", "--mute-audio",
            "--hide-scrollbars", "--remote-debugging-port=0", "--user-data-dir=" + profile, "about:blank",
        }) psi.ArgumentList.Add(a);
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {executable}");
        var browser = new HeadlessChromium(process, profile);
        var endpoint = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { endpoint.TrySetException(new InvalidOperationException($"chromium exited: {stderr}")); return; }
            lock (stderr) stderr.AppendLine(e.Data);
            var m = Listening().Match(e.Data);
            if (m.Success) endpoint.TrySetResult(m.Groups[1].Value);
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        try
        {
            string url = await endpoint.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
            await browser._socket.ConnectAsync(new Uri(url), ct);
            browser._receiver = Task.Run(browser.ReceiveLoop);
            return browser;
        }
        catch
        {
            await browser.DisposeAsync();
            throw;
        }
    }

    /// <summary>Opens a new tab of the given size and returns its session id.</summary>
    public async Task<string> NewPageAsync(int width, int height, CancellationToken ct)
    {
        var target = await SendAsync("Target.createTarget", new JsonObject { ["url"] = "about:blank" }, null, ct);
        var attached = await SendAsync("Target.attachToTarget",
            new JsonObject { ["targetId"] = target.GetProperty("targetId").GetString(), ["flatten"] = true }, null, ct);
        string session = attached.GetProperty("sessionId").GetString()!;
        await SendAsync("Page.enable", new JsonObject(), session, ct);
        await SendAsync("Emulation.setDeviceMetricsOverride",
            new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false }, session, ct);
        return session;
    }

    /// <summary>Navigates and waits until the document has loaded.</summary>
    public async Task NavigateAsync(string session, string url, CancellationToken ct)
    {
        await SendAsync("Page.navigate", new JsonObject { ["url"] = url }, session, ct);
        for (int i = 0; ; i++)
        {
            var state = await EvaluateAsync(session, "[document.readyState, location.href]", ct);
            if (state[0].GetString() == "complete" && state[1].GetString() == url) return;
            if (i > 600) throw new TimeoutException($"{url} did not finish loading");
            await Task.Delay(50, ct);
        }
    }

    /// <summary>Evaluates an expression (awaiting a promise) and returns its value as JSON.</summary>
    public async Task<JsonElement> EvaluateAsync(string session, string expression, CancellationToken ct)
    {
        var r = await SendAsync("Runtime.evaluate",
            new JsonObject { ["expression"] = expression, ["returnByValue"] = true, ["awaitPromise"] = true }, session, ct);
        if (r.TryGetProperty("exceptionDetails", out var ex)) throw new InvalidOperationException($"page script failed: {ex}");
        return r.GetProperty("result").GetProperty("value");
    }

    /// <summary>A PNG of the page at the current viewport size, grown to the document's height (at most 4000 px).</summary>
    public async Task<byte[]> ScreenshotAsync(string session, int width, CancellationToken ct)
    {
        int height = Math.Min(4000, (await EvaluateAsync(session, "document.documentElement.scrollHeight", ct)).GetInt32());
        await SendAsync("Emulation.setDeviceMetricsOverride",
            new JsonObject { ["width"] = width, ["height"] = height, ["deviceScaleFactor"] = 1, ["mobile"] = false }, session, ct);
        var shot = await SendAsync("Page.captureScreenshot", new JsonObject { ["format"] = "png" }, session, ct);
        return Convert.FromBase64String(shot.GetProperty("data").GetString()!);
    }

    private async Task<JsonElement> SendAsync(string method, JsonObject parameters, string? session, CancellationToken ct)
    {
        int id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        var message = new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters };
        if (session is not null) message["sessionId"] = session;
        await _socket.SendAsync(Encoding.UTF8.GetBytes(message.ToJsonString()), WebSocketMessageType.Text, true, ct);
        return await tcs.Task.WaitAsync(TimeSpan.FromSeconds(60), ct);
    }

    private async Task ReceiveLoop()
    {
        var buffer = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (_socket.State == WebSocketState.Open && !_stop.IsCancellationRequested)
            {
                var r = await _socket.ReceiveAsync(buffer, _stop.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
                message.Write(buffer, 0, r.Count);
                if (!r.EndOfMessage) continue;
                using var doc = JsonDocument.Parse(message.ToArray());
                message.SetLength(0);
                if (!doc.RootElement.TryGetProperty("id", out var idElement)) continue;   // an event
                if (!_pending.TryRemove(idElement.GetInt32(), out var tcs)) continue;
                if (doc.RootElement.TryGetProperty("error", out var error))
                    tcs.TrySetException(new InvalidOperationException($"DevTools error: {error}"));
                else
                    tcs.TrySetResult(doc.RootElement.GetProperty("result").Clone());
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
        }
        foreach (var tcs in _pending.Values) tcs.TrySetException(new InvalidOperationException("the DevTools connection closed"));
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try
        {
            if (_socket.State == WebSocketState.Open)
                await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(5));
        }
        catch (Exception e) when (e is WebSocketException or TimeoutException or OperationCanceledException)
        {
        }
        try { await _receiver.WaitAsync(TimeSpan.FromSeconds(5)); } catch (TimeoutException) { }
        _socket.Dispose();
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
        try { Directory.Delete(_profile, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    [GeneratedRegex(@"DevTools listening on (ws://\S+)")]
    private static partial Regex Listening();
}
