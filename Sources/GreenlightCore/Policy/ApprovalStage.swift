/// One step of a staged approval: `stages: [{name: leads, require: […]}, {name: finance, require: […], timeout: 1h}]`.
///
/// Stage 2 is asked only once stage 1 is met, so finance is not pinged about a change the leads have not looked at.
/// A rule that writes plain `require:` has one stage, named `approval`.
public struct ApprovalStage: Sendable, Equatable {
    /// The name the card, the gate JSON and the CLI show: "stage 2 of 2 (finance)".
    public var name: String
    public var require: [Policy.ApprovalRule]
    /// How long this stage may stay open, counted from when it opens. The gate's own timeout still bounds it.
    public var timeout: PolicyDuration?

    public init(name: String, require: [Policy.ApprovalRule], timeout: PolicyDuration? = nil) {
        self.name = name
        self.require = require
        self.timeout = timeout
    }

    /// The name of the single stage of a rule written with plain `require:`.
    public static let singleStageName = "approval"
}
