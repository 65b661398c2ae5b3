import Foundation
import GreenlightCore

/// The approval card for a gate: what is being deployed, what is still needed, and — while the gate is pending — the
/// Approve and Reject buttons. Once the gate is decided the same card, re-rendered, has no buttons and says who
/// decided, when, and why, so that a card never offers a decision that can no longer be made.
///
/// Every fact the pipeline claimed is escaped (it cannot mention `@channel` or forge a link) and marked as claimed.
public enum GateCard {
    public static let approveActionID = "gate_approve"
    public static let rejectActionID = "gate_reject"
    /// How many changed paths the card lists before "and N more".
    static let shownPaths = 10

    /// The message for `gate`, posted to `channel`, linking to `url`.
    public static func message(for gate: Gate, channel: String?, url: String) -> SlackMessage {
        var blocks: [Block] = [.header(.plain(SlackText.truncate(header(gate), to: BlockKitLimits.headerText)))]
        blocks.append(.section(text: nil, fields: facts(gate)))
        if let summary = gate.request.summary, !summary.isEmpty {
            blocks.append(
                .section(
                    text: .mrkdwn(SlackText.truncate("*Summary* _(claimed)_\n" + SlackText.escape(summary), to: BlockKitLimits.sectionText)),
                    fields: []))
        }
        if !gate.request.changedPaths.isEmpty {
            let paths = gate.request.changedPaths.prefix(shownPaths).map { "`\(SlackText.escape($0))`" }
            let hidden = gate.request.changedPaths.count - paths.count
            let title = "*\(gate.request.changedPaths.count) changed file(s)* _(claimed)_\n"
            let list = SlackText.list(paths, limit: BlockKitLimits.sectionText - title.count - 40, separator: "\n")
            let more = hidden > 0 ? "\nand \(hidden) more" : ""
            blocks.append(.section(text: .mrkdwn(title + list + more), fields: []))
        }
        blocks.append(.divider)
        blocks.append(.section(text: .mrkdwn(SlackText.truncate(status(gate), to: BlockKitLimits.sectionText)), fields: []))
        if gate.state == .pending {
            blocks.append(.actions(blockID: "gate:\(gate.id):v\(gate.version)", elements: buttons(gate)))
        }
        blocks.append(.context([.mrkdwn(SlackText.truncate(footer(gate, url: url), to: BlockKitLimits.sectionText))]))
        return SlackMessage(channel: channel, text: SlackText.truncate(fallback(gate), to: BlockKitLimits.messageText), blocks: blocks)
    }

    static func header(_ gate: Gate) -> String {
        let version = gate.request.labels["version"].map { " \($0)" } ?? ""
        return "\(gate.request.service) → \(gate.request.environment)\(version)"
    }

    /// The notification text: what the card is about, for clients that show no blocks.
    static func fallback(_ gate: Gate) -> String {
        let what = "Deploy \(gate.request.service) → \(gate.request.environment)"
        switch gate.state {
        case .pending: return "\(what) needs approval: \(needs(gate))"
        default: return "\(what): \(gate.state.displayName)\(gate.decidedBy.map { " by \($0)" } ?? "")"
        }
    }

    static func facts(_ gate: Gate) -> [TextObject] {
        let request = gate.request
        var fields: [(String, String)] = [("Artifact", "`\(SlackText.escape(request.artifact))` _(claimed)_")]
        let commits = request.baseCommit.map { "`\(short($0))..\(short(request.commit))`" } ?? "`\(short(request.commit))`"
        fields.append(("Commits", "\(commits) _(claimed)_"))
        if let pullRequest = request.pullRequest { fields.append(("Pull request", SlackText.escape(pullRequest) + " _(claimed)_")) }
        if let ticket = request.ticket { fields.append(("Ticket", SlackText.escape(ticket) + " _(claimed)_")) }
        fields.append(("Tier", SlackText.escape(gate.plan.tier)))
        if let triggeredBy = request.triggeredBy { fields.append(("Triggered by", SlackText.escape(triggeredBy) + " _(claimed)_")) }
        if !request.authors.isEmpty {
            fields.append(("Authors", SlackText.list(request.authors.map(SlackText.escape), limit: 1_800) + " _(claimed)_"))
        }
        if let run = request.runURL { fields.append(("Run", link(run, label: "pipeline run") + " _(claimed)_")) }
        return fields.prefix(BlockKitLimits.sectionFields).map { .mrkdwn(SlackText.truncate("*\($0.0)*\n\($0.1)", to: BlockKitLimits.fieldText)) }
    }

    /// "Needs 1 of 2 from platform-leads (approved so far: alice)", with the open stage when there are several:
    /// "Needs 1 of 1 from finance, in stage 2 of 2 (finance)".
    static func needs(_ gate: Gate) -> String {
        let staged = gate.stages
        let needs = staged.currentTally.progress.map(\.summary).joined(separator: "; ")
        guard gate.plan.stages.count > 1 else { return needs }
        return Tally.inStage(needs, open: staged.current, of: gate.plan.stages.count, named: gate.plan.stages[staged.current].name)
    }

    static func status(_ gate: Gate) -> String {
        switch gate.state {
        case .pending:
            let deadline = gate.deadline.map { " before " + SlackText.date(Int($0.timeIntervalSince1970), fallback: Timestamp.format($0)) } ?? ""
            let onTimeout = gate.plan.onTimeout == .reject ? "then it is rejected" : "then it is approved (fail-open)"
            return ":hourglass_flowing_sand: *Needs \(SlackText.escape(needs(gate)))*\(deadline); \(onTimeout)"
        default:
            let icon = gate.breakGlass ? ":rotating_light:" : gate.outcome == .approved ? ":white_check_mark:" : ":no_entry:"
            let by = gate.decidedBy.map { " by \(SlackText.escape($0))" } ?? ""
            let at = gate.decidedAt.map { " " + SlackText.date(Int($0.timeIntervalSince1970), fallback: Timestamp.format($0)) } ?? ""
            let reason = gate.reason.map { "\n" + SlackText.escape($0) } ?? ""
            let how = gate.breakGlass ? " (break-glass)" : gate.failOpen ? " (fail-open)" : ""
            return "\(icon) *\(gate.state.displayName.capitalizedFirst)\(how)*\(by)\(at)\(reason)"
        }
    }

    static func buttons(_ gate: Gate) -> [Button] {
        let target = SlackText.truncate("\(gate.request.service) to \(gate.request.environment)", to: 200)
        return [
            Button(
                actionID: approveActionID, text: .plain("Approve"), value: gate.id.rawValue, style: .primary,
                confirm: ConfirmationDialog(
                    title: .plain("Approve this deploy?"),
                    text: .plain(SlackText.truncate("Approve deploying \(target), as yourself.", to: BlockKitLimits.confirmText)),
                    confirm: .plain("Approve"), deny: .plain("Cancel"), style: .primary)
            ),
            Button(
                actionID: rejectActionID, text: .plain("Reject"), value: gate.id.rawValue, style: .danger,
                confirm: ConfirmationDialog(
                    title: .plain("Reject this deploy?"),
                    text: .plain(SlackText.truncate("Reject deploying \(target). One reject decides the gate.", to: BlockKitLimits.confirmText)),
                    confirm: .plain("Reject"), deny: .plain("Cancel"), style: .danger)
            ),
        ]
    }

    static func footer(_ gate: Gate, url: String) -> String {
        "Gate \(link(url, label: gate.id.rawValue)) · policy `\(gate.plan.policyHash.prefix(12))` (\(SlackText.escape(gate.plan.rule))) · "
            + "facts marked _claimed_ come from pipeline:\(SlackText.escape(gate.openedBy)) and were not verified"
    }

    /// A link, or the escaped text when the URL could break out of Slack's `<url|label>` syntax.
    static func link(_ url: String, label: String) -> String {
        guard url.hasPrefix("https://") || url.hasPrefix("http://"), !url.contains(where: { "<>| \n".contains($0) }) else {
            return SlackText.escape(url)
        }
        return "<\(url.replacingOccurrences(of: "&", with: "&amp;"))|\(SlackText.escape(label))>"
    }

    static func short(_ commit: String) -> String { SlackText.escape(String(commit.prefix(12))) }
}

extension String {
    var capitalizedFirst: String { prefix(1).uppercased() + dropFirst() }
}
