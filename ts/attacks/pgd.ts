// PGD (Madry et al. 2018): projected signed-gradient steps in the L∞ ε-ball, optional random start.
import { AttackMethod } from "../generated/robustseg/v1/attack.js";
import { gradientAttack } from "./gradient.js";

export const pgd = gradientAttack({
  method: "pgd",
  label: "PGD",
  protoMethod: AttackMethod.ATTACK_METHOD_PGD,
  iterative: true,
  description: "PGD (Madry et al. 2018): projected signed-gradient steps in the ε-ball",
});
