// The names of a job's states and phases, as the store, the protocol and people read them.
#include "daemon/service/engine.h"

namespace tvd::service {

const char* to_string(JobState s) {
  return kJobStates.name(s).data();
}

const char* to_string(JobPhase p) {
  return kJobPhases.name(p).data();
}

}  // namespace tvd::service
