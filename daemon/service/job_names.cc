// The names of a job's states and phases, as the store, the protocol and people read them.
#include "daemon/service/engine.h"

namespace tvd::service {

const char* to_string(JobState s) {
  switch (s) {
    case JobState::kQueued:
      return "queued";
    case JobState::kBuilding:
      return "building";
    case JobState::kPublishing:
      return "publishing";
    case JobState::kSucceeded:
      return "succeeded";
    case JobState::kFailed:
      return "failed";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "?";
}

const char* to_string(JobPhase p) {
  switch (p) {
    case JobPhase::kRecipe:
      return "recipe";
    case JobPhase::kBuild:
      return "build";
    case JobPhase::kPublish:
      return "publish";
  }
  return "?";
}

}  // namespace tvd::service
