// CosPGD (Agnihotri et al. 2024): PGD whose pixel-wise loss is weighted by the cosine between the
// softmax and the one-hot label (detached).
import { AttackMethod } from "../generated/robustseg/v1/attack.js";
import { gradientAttack } from "./gradient.js";

export const cospgd = gradientAttack({
  method: "cospgd",
  label: "CosPGD",
  protoMethod: AttackMethod.ATTACK_METHOD_COSPGD,
  iterative: true,
  description: "CosPGD (Agnihotri et al. 2024): PGD weighting each pixel by its prediction's cosine to the label",
});
