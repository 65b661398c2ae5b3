import Foundation
import GreenlightSlackSimulator

/// `greenlight-bench slack-simulator [--signing-secret S] [--bot-token T] [--rate-limit chat.update,…] [--retry-after 60]`:
/// the Slack simulator (`GreenlightSlackSimulator`) as a process of its own, for a `greenlight serve` under external load.
///
/// Prints `slack simulator listening on http://127.0.0.1:PORT/api/` (point `GREENLIGHT_SLACK_API_URL` at it) and serves
/// until it is killed. Every call to a method named by `--rate-limit` (default `chat.update`) is answered 429 with
/// `Retry-After: --retry-after` seconds, as Slack answers a server that updates a thousand cards a second (Tier 3 allows
/// about 50 a minute): the card updates then wait in the server's outbox. `--rate-limit none` serves every method.
enum StandaloneSlack {
    static func run(_ arguments: ArraySlice<String>) async throws {
        var signingSecret = Seed.signingSecret
        var botToken = "xoxb-simulator"
        var limited = ["chat.update"]
        var retryAfter = 60
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            switch flag {
            case "--signing-secret": signingSecret = iterator.next() ?? signingSecret
            case "--bot-token": botToken = iterator.next() ?? botToken
            case "--rate-limit":
                let value = iterator.next() ?? ""
                limited = value == "none" ? [] : value.split(separator: ",").map(String.init)
            case "--retry-after": retryAfter = Seed.Options.number(flag, iterator.next())
            case "--help", "-h":
                print(
                    "usage: greenlight-bench slack-simulator [--signing-secret S] [--bot-token T] [--rate-limit chat.update[,chat.postMessage]|none] [--retry-after 60]"
                )
                exit(0)
            default: GreenlightBenchmarks.Options.usage("slack-simulator: unknown option \(flag)")
            }
        }
        let slack = SlackSimulator(botToken: botToken, signingSecret: signingSecret)
        let url = try await slack.start()
        // Faults are queued per call; keep enough queued that every call to a limited method is refused.
        var injected: [String: Int] = [:]
        func topUp() {
            for method in limited {
                let answered = slack.calls(to: method).count
                if injected[method, default: 0] - answered < 1_000 {
                    slack.inject(.rateLimited(retryAfter: retryAfter), into: method, times: 10_000)
                    injected[method, default: 0] += 10_000
                }
            }
        }
        topUp()
        FileHandle.standardOutput.write(Data("slack simulator listening on \(url)\n".utf8))
        let limitedText = limited.isEmpty ? "nothing" : limited.joined(separator: ", ")
        FileHandle.standardError.write(Data("slack simulator: answering \(limitedText) with 429, Retry-After: \(retryAfter)\n".utf8))
        while true {
            try await Task.sleep(for: .seconds(5))
            topUp()
        }
    }
}
