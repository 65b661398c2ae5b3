import Foundation
import GreenlightCore
import GreenlightPolicyFile
import GreenlightSlack
import Synchronization

/// Who is who between the policy and Slack: the person behind a Slack user id (`people.<name>.slack`), the mention for
/// a person, and the members of groups kept in Slack user groups (`groups.<g>.slack_usergroup`) as last read.
///
/// A user group's members are Slack ids; each becomes the person the policy maps it to, or stays a Slack id when the
/// policy does not know them, so that such a member can still vote (as that id) and be barred by separation of duties.
public final class SlackDirectory: Sendable {
    /// The policy and its person names by Slack id, built once per policy: every click looks its clicker up.
    private struct People {
        var policy: Policy
        var personBySlackID: [String: String]

        init(_ policy: Policy) {
            self.policy = policy
            // The parser refuses a Slack id given to two people, so the map is unambiguous.
            personBySlackID = Dictionary(policy.people.values.compactMap { person in person.slack.map { ($0, person.name) } }) { first, _ in first }
        }
    }

    private let people: Mutex<People>
    /// Last good member list (Slack user ids) per user group id; a failed refresh keeps it.
    private let usergroups = Mutex<[String: [String]]>([:])

    public init(policy: Policy) {
        people = Mutex(People(policy))
    }

    /// The policy whose people and groups the directory maps.
    public var policy: Policy { people.withLock { $0.policy } }

    /// Maps people and groups by an edited policy from now on.
    public func replace(policy: Policy) {
        people.withLock { $0 = People(policy) }
    }

    /// The user groups the policy names.
    public var usergroupIDs: [String] {
        Array(Set(policy.groups.values.compactMap(\.slackUsergroup))).sorted()
    }

    /// Replaces a user group's members after a successful `usergroups.users.list`.
    public func update(usergroup: String, members: [String]) {
        usergroups.withLock { $0[usergroup] = members }
    }

    /// Whether `usergroup`'s members have been read at least once.
    public func hasMembers(of usergroup: String) -> Bool {
        usergroups.withLock { $0[usergroup] != nil }
    }

    /// The identity a Slack user votes as: the policy's person, or the Slack id itself.
    public func identity(forSlackUser userID: String) -> String {
        people.withLock { $0.personBySlackID[userID] } ?? userID
    }

    /// Members that user groups add to the policy's groups, by group name (the input of `Policy.plan`).
    public func usergroupMembers() -> [String: [String]] {
        let known = usergroups.withLock { $0 }
        var members: [String: [String]] = [:]
        for group in policy.groups.values {
            guard let usergroup = group.slackUsergroup, let users = known[usergroup] else { continue }
            members[group.name] = users.map(identity(forSlackUser:))
        }
        return members
    }

    /// How to mention `identity` in Slack: `<@U…>` for a person with a Slack id or a bare Slack id, else the name.
    public func mention(_ identity: String) -> String {
        if let slack = policy.people[identity]?.slack { return "<@\(slack)>" }
        if PolicyParser.isSlackUserID(identity) { return "<@\(identity)>" }
        return SlackText.escape(identity)
    }

    /// How to call in a whole group: its user group's handle, else each listed member.
    public func mention(group name: String) -> [String] {
        guard let group = policy.groups[name] else { return [] }
        if let usergroup = group.slackUsergroup { return ["<!subteam^\(usergroup)>"] }
        return group.members.map(mention)
    }
}
