// The model.mc_dropout_sam section: the dropout of MC-dropout SAM (psam's own protocol; no public
// reference code exists).
#pragma once

namespace psam::models {

struct McDropoutSamConfig {
  // Dropout probability in the mask decoder's two-way transformer (attention and MLP outputs)
  // and output hypernetwork MLPs, in training and for the samples.
  double rate = 0.1;

  void validate() const;  // psam::Error unless 0 <= rate < 1
};

template <class B>
void describe(B& b, McDropoutSamConfig& c) {
  b.field("rate", c.rate, "dropout probability in the mask decoder (training and samples)");
}

}  // namespace psam::models
