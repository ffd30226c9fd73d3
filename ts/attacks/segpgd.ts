// SegPGD (Gu et al. 2022): PGD whose pixel-wise loss weights correctly and wrongly classified
// pixels by (1 − λ(t)) and λ(t), λ(t) = (t − 1)/(2T).
import { AttackMethod } from "../generated/robustseg/v1/attack.js";
import { gradientAttack } from "./gradient.js";

export const segpgd = gradientAttack({
  method: "segpgd",
  label: "SegPGD",
  protoMethod: AttackMethod.ATTACK_METHOD_SEGPGD,
  iterative: true,
  description: "SegPGD (Gu et al. 2022): PGD weighting correct and wrong pixels over the steps",
});
