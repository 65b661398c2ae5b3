import Foundation
import GreenlightCore
import GreenlightSlack
import Logging
import ServiceLifecycle

/// Reads the members of the policy's Slack user groups (`usergroups.users.list`, a Tier 2 method) at start and then
/// every `interval`, into the ``SlackDirectory``. A failed read is logged and the last good list kept: a Slack outage
/// must not empty a group and leave gates with nobody who may approve.
///
/// Gates freeze their eligible approvers when they open (invariant 7), so a refresh changes only gates opened after it.
struct SlackUsergroupSync: Service {
    let slack: SlackWebAPI
    let directory: SlackDirectory
    let clock: any WallClock
    let logger: Logger
    var interval: TimeInterval = 600

    func run() async throws {
        let usergroups = directory.usergroupIDs
        guard !usergroups.isEmpty else {
            // Nothing to read; a service that returned would end the whole group, so wait for shutdown.
            try await gracefulShutdown()
            return
        }
        await cancelWhenGracefulShutdown {
            var failures = 0
            while !Task.isCancelled {
                var next = clock.now().addingTimeInterval(interval)
                for usergroup in usergroups where !Task.isCancelled {
                    do {
                        let members = try await slack.usergroupMembers(usergroup)
                        let first = !directory.hasMembers(of: usergroup)
                        directory.update(usergroup: usergroup, members: members)
                        // The first read is news (gates needing the group can open now); later ones are routine.
                        logger.log(
                            level: first ? .notice : .debug, "read Slack user group \(usergroup): \(members.count) member(s)")
                        failures = 0
                    } catch {
                        if Task.isCancelled { return }  // stopping, not failing
                        let kept =
                            directory.hasMembers(of: usergroup) ? "keeping the last list read" : "its members are unknown until a read succeeds"
                        logger.error(
                            "reading a Slack user group failed; \(kept)",
                            metadata: ["usergroup": "\(usergroup)", "error": "\(error)"])
                        let retry: TimeInterval =
                            if case .rateLimited(let seconds)? = error as? SlackAPIError {
                                seconds
                            } else {
                                Backoff.delay(afterFailures: failures, initial: 1, maximum: interval)
                            }
                        failures += 1
                        next = min(next, clock.now().addingTimeInterval(retry))
                    }
                }
                try? await clock.sleep(until: next)
            }
        }
    }
}
