// FGSM (Goodfellow et al. 2015): one signed-gradient step of size ε; targeted steps against the
// target's loss. The worker ignores steps, step size and random starts for it.
import { AttackMethod } from "../generated/robustseg/v1/attack.js";
import { gradientAttack } from "./gradient.js";

export const fgsm = gradientAttack({
  method: "fgsm",
  label: "FGSM",
  protoMethod: AttackMethod.ATTACK_METHOD_FGSM,
  iterative: false,
  description: "FGSM (Goodfellow et al. 2015): one signed-gradient step of size ε",
});
