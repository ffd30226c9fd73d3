// Method two's selection in the control plane (DESIGN section 7): strategies over an injected
// candidate scorer, the tie rule, the record of choices and the strategy comparison.

export * from "./signs.js";
export * from "./scoring.js";
export * from "./strategies.js";
export * from "./record.js";
export * from "./compare.js";
export * from "./synthetic.js";
