#include "psam/train/model_task.h"

namespace psam::train {

ModelTask::ModelTask(models::Model& model, LossConfig loss) : model_(model), loss_(loss) {
  loss_.validate();
}

}  // namespace psam::train
