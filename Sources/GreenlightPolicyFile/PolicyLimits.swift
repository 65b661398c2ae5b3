import Foundation
import GreenlightCore

/// How much a policy document may ask of the process that reads it.
///
/// A policy is reviewed like code, but it is still text that a server reloads while it runs, and YAML lets a small text
/// stand for a very large document: an alias (`*name`) repeats the node its anchor (`&name`) names, so ten nested levels
/// of ten aliases are 10¹⁰ nodes in 1.6 KB. Each limit is far above what a real policy needs and low enough that
/// reading a policy that passes them takes a fraction of a second and a few hundred megabytes at most; past one, the
/// policy is refused at once, naming the limit and the line.
public enum PolicyLimits {
    /// The largest policy file: 4 MiB. A policy of 40,000 people, each with a Slack id, a GitHub login and an e-mail,
    /// is about 3 MB.
    public static let maximumDocumentBytes = 4 << 20

    /// The most YAML nodes (each scalar, list and mapping) a policy may hold once every alias is replaced by what it
    /// stands for. The 40,000 people above are about 320,000.
    public static let maximumNodes = 1_000_000

    /// The most aliases (`*name`) a policy may use.
    public static let maximumAliases = 10_000

    /// How deeply lists and mappings may nest, in brackets or by indentation. Yams composes nesting by recursion (and
    /// libyaml stops at 1,000 levels); a policy needs about ten, and the bound keeps the recursion far from any stack's
    /// end.
    public static let maximumNesting = 64

    /// The most conditions (each key of a `when`, each entry of an `any` or `all`) all tiers may hold together: every
    /// gate that opens may evaluate each of them.
    public static let maximumConditions = 10_000

    /// How deeply `any` and `all` may nest inside one `when`.
    public static let maximumConditionNesting = 16

    /// The most diagnostics of each severity kept, printed, logged and audited for one policy; the rest are counted in
    /// a last line ("… and 950 more errors"). The first ones are the ones to fix first, and a policy with thousands of
    /// errors must not print megabytes of them.
    public static let maximumDiagnostics = 50
}
