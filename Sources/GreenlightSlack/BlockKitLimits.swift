/// Slack's Block Kit limits (protocols.md 3.1), and a check of a message against them.
///
/// The card renderer cuts text to fit; the check exists so that tests can prove it did, for any gate.
public enum BlockKitLimits {
    public static let blocksPerMessage = 50
    public static let headerText = 150
    public static let sectionText = 3_000
    public static let sectionFields = 10
    public static let fieldText = 2_000
    public static let contextElements = 10
    public static let actionsElements = 25
    public static let blockID = 255
    public static let buttonText = 75
    public static let actionID = 255
    public static let buttonValue = 2_000
    public static let confirmTitle = 100
    public static let confirmText = 300
    public static let confirmButton = 30
    /// `chat.update` answers `msg_too_long` past this.
    public static let messageText = 4_000

    /// Every limit `message` breaks, described; empty when it fits.
    public static func violations(of message: SlackMessage) -> [String] {
        var problems: [String] = []
        func check(_ count: Int, _ limit: Int, _ what: String) {
            if count > limit { problems.append("\(what): \(count) > \(limit)") }
        }
        check(message.text.count, messageText, "message text")
        let blocks = message.blocks ?? []
        check(blocks.count, blocksPerMessage, "blocks")
        for (index, block) in blocks.enumerated() {
            switch block {
            case .header(let text):
                check(text.text.count, headerText, "block \(index) header")
                if text.type != .plainText { problems.append("block \(index) header must be plain_text") }
            case .section(let text, let fields):
                if text == nil, fields.isEmpty { problems.append("block \(index) section has neither text nor fields") }
                if let text { check(text.text.count, sectionText, "block \(index) section text") }
                if text?.text.isEmpty == true { problems.append("block \(index) section text is empty") }
                check(fields.count, sectionFields, "block \(index) fields")
                for field in fields { check(field.text.count, fieldText, "block \(index) field") }
            case .context(let elements):
                check(elements.count, contextElements, "block \(index) context elements")
            case .actions(let id, let buttons):
                check(id.count, blockID, "block \(index) block_id")
                check(buttons.count, actionsElements, "block \(index) elements")
                for button in buttons {
                    check(button.text.text.count, buttonText, "button text")
                    check(button.actionID.count, actionID, "action_id")
                    check(button.value.count, buttonValue, "button value")
                    if let confirm = button.confirm {
                        check(confirm.title.text.count, confirmTitle, "confirm title")
                        check(confirm.text.text.count, confirmText, "confirm text")
                        check(confirm.confirm.text.count, confirmButton, "confirm button")
                        check(confirm.deny.text.count, confirmButton, "deny button")
                    }
                }
                if Set(buttons.map(\.actionID)).count != buttons.count { problems.append("block \(index) repeats an action_id") }
            case .divider:
                break
            }
        }
        return problems
    }
}

/// Text helpers for Slack's markup.
public enum SlackText {
    /// Escapes `&`, `<` and `>` as Slack requires, so that text a pipeline claimed cannot become a mention
    /// (`<!channel>`), a link, or markup that breaks the card.
    public static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    /// `text` cut to at most `limit` characters, ending with "…" when cut.
    public static func truncate(_ text: String, to limit: Int) -> String {
        guard text.count > limit else { return text }
        return String(text.prefix(max(0, limit - 1))) + "…"
    }

    /// A list cut to what fits in `limit` characters: "a, b, c and 12 more".
    public static func list(_ items: [String], limit: Int, separator: String = ", ") -> String {
        var shown: [String] = []
        for (index, item) in items.enumerated() {
            let rest = items.count - index - 1
            let candidate = (shown + [item]).joined(separator: separator) + (rest > 0 ? " and \(rest) more" : "")
            if candidate.count > limit { break }
            shown.append(item)
        }
        let hidden = items.count - shown.count
        if shown.isEmpty { return hidden > 0 ? "\(hidden) item(s)" : "" }
        return shown.joined(separator: separator) + (hidden > 0 ? " and \(hidden) more" : "")
    }

    /// A date Slack shows in each reader's own time zone, with `fallback` for clients that cannot.
    public static func date(_ unixSeconds: Int, fallback: String) -> String {
        "<!date^\(unixSeconds)^{date_short_pretty} at {time}|\(escape(fallback))>"
    }
}
