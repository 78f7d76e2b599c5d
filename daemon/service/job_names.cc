// The names of a job's states, phases and events, as the store, the protocol and people read them.
#include "daemon/service/engine.h"

namespace tvd::service {

const char* to_string(JobState s) {
  return kJobStates.name(s).data();
}

const char* to_string(JobPhase p) {
  return kJobPhases.name(p).data();
}

const char* to_string(EventKind k) {
  return kEventKinds.name(k).data();
}

}  // namespace tvd::service
