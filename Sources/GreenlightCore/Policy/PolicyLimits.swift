/// How much a policy document may ask of the process that reads it.
///
/// A policy is reviewed like code, but it is still text that a server reloads while it runs, and YAML lets a small text
/// stand for a very large document: an alias (`*name`) repeats the node its anchor (`&name`) names, so ten nested levels
/// of ten aliases are 10¹⁰ nodes in 1.6 KB. Each limit is far above what a real policy needs and low enough that
/// reading a policy that passes them takes a fraction of a second and a few hundred megabytes at most; past one, the
/// policy is refused at once, naming the limit and the line.
public enum PolicyLimits {
    /// The most diagnostics of each severity kept, printed, logged and audited for one policy; the rest are counted in
    /// a last line ("… and 950 more errors"). The first ones are the ones to fix first, and a policy with thousands of
    /// errors must not print megabytes of them.
    public static let maximumDiagnostics = 50
}
