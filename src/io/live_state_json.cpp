#include "io/live_state_json.hpp"

#include <cmath>
#include <string>

namespace shmrefclock {

namespace {

using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------
// To JSON

template <typename T> void put_fields(Json& out, const T& object) {
    T::fields(object, [&out](const FieldInfo& info, const auto& value) {
        out[std::string(info.key)] = value;
    });
}

// An optional part: its object, or null.
template <typename T, typename Put> Json object_or_null(const std::optional<T>& part, Put put) {
    if (!part) {
        return nullptr;
    }
    Json out = Json::object();
    put(out, *part);
    return out;
}

void put_arrival(Json& out, const NmeaArrival& arrival) {
    put_fields(out, arrival);
    Json histogram = Json::object();
    NmeaArrival::histogram_fields(arrival, [&histogram](const FieldInfo& info, double value) {
        histogram[std::string(info.key)] = value;
    });
    histogram["counts"] = arrival.counts;
    out["histogram"] = std::move(histogram);
}

void put_witness(Json& out, const WitnessState& witness) {
    put_fields(out, witness);
    out["verdict"] = object_or_null(witness.verdict, put_fields<WitnessVerdictState>);
}

Json refclock_json(const RefclockState& rc) {
    Json out = Json::object();
    put_fields(out, rc);
    out["last_sample"] = object_or_null(rc.last_sample, put_fields<LastSample>);
    Json counters = Json::object();
    RefclockState::counters(
        rc, Overload{[&counters](const CounterInfo& info, std::uint64_t count) {
                         counters[std::string(info.name)] = count;
                     },
                     [&counters](const CounterInfo& info, const ReasonCounts& counts) {
                         Json by_reason = Json::object();
                         for (const ReasonCount& each : counts) {
                             by_reason[each.reason] = each.count;
                         }
                         counters[std::string(info.name)] = std::move(by_reason);
                     }});
    out["counters"] = std::move(counters);
    if (rc.nmea) {
        out["nmea_arrival"] = object_or_null(rc.nmea->arrival, put_arrival);
        out["pps_latency"] = object_or_null(rc.nmea->pps_latency, put_fields<PpsLatency>);
        out["ubx_receiver"] = object_or_null(rc.nmea->receiver, put_fields<UbxReceiver>);
    }
    if (rc.pps) {
        out["pps_quantization"] = object_or_null(rc.pps->quantization, put_fields<PpsQuantization>);
    }
    if (rc.witness()) {
        out["witness"] = object_or_null(rc.witness(), put_witness);
    }
    if (rc.history) {
        Json points = Json::array();
        for (const SecondHistory::Point& point : *rc.history) {
            points.push_back({point.unix_s, point.value});
        }
        out["history"] = std::move(points);
    }
    return out;
}

// ---------------------------------------------------------------------------
// From JSON, tolerantly

void read(const Json& value, std::string& out) {
    if (value.is_string()) {
        out = value.get<std::string>();
    } else if (value.is_number() || value.is_boolean()) {
        out = value.dump();
    }
}

void read(const Json& value, double& out) {
    out = value.is_number() ? value.get<double>() : unknown_number;
}

void read(const Json& value, bool& out) {
    if (value.is_boolean()) {
        out = value.get<bool>();
    }
}

void read(const Json& value, std::int64_t& out) {
    if (value.is_number_unsigned()) {
        out = static_cast<std::int64_t>(value.get<std::uint64_t>());
    } else if (value.is_number_integer()) {
        out = value.get<std::int64_t>();
    } else if (value.is_number_float() && std::isfinite(value.get<double>())) {
        out = static_cast<std::int64_t>(value.get<double>());
    }
}

void read(const Json& value, std::uint64_t& out) {
    std::int64_t signed_value = -1;
    if (value.is_number_unsigned()) {
        out = value.get<std::uint64_t>();
        return;
    }
    read(value, signed_value);
    if (signed_value >= 0) {
        out = static_cast<std::uint64_t>(signed_value);
    }
}

void read(const Json& value, int& out) {
    std::int64_t wide = out;
    read(value, wide);
    out = static_cast<int>(wide);
}

void read(const Json& value, ReasonCounts& out) {
    if (!value.is_object()) {
        return;
    }
    for (const auto& [reason, count] : value.items()) {
        ReasonCount each{reason, 0};
        read(count, each.count);
        out.push_back(std::move(each));
    }
}

// `object`'s member `key`, or null.
const Json& member(const Json& object, std::string_view key) {
    static const Json none;
    if (!object.is_object()) {
        return none;
    }
    const auto it = object.find(std::string(key));
    return it == object.end() ? none : *it;
}

template <typename T> void get_fields(const Json& in, T& object) {
    T::fields(object,
              [&in](const FieldInfo& info, auto& value) { read(member(in, info.key), value); });
}

// An optional part, set when `in` is an object.
template <typename T, typename Get>
void get_object(const Json& in, std::optional<T>& part, Get get) {
    if (in.is_object()) {
        get(in, part.emplace());
    }
}

void get_arrival(const Json& in, NmeaArrival& arrival) {
    get_fields(in, arrival);
    const Json& histogram = member(in, "histogram");
    NmeaArrival::histogram_fields(arrival, [&histogram](const FieldInfo& info, double& value) {
        read(member(histogram, info.key), value);
    });
    const Json& counts = member(histogram, "counts");
    if (counts.is_array()) {
        for (const Json& count : counts) {
            std::uint64_t n = 0;
            read(count, n);
            arrival.counts.push_back(n);
        }
    }
}

void get_witness(const Json& in, WitnessState& witness) {
    get_fields(in, witness);
    get_object(member(in, "verdict"), witness.verdict, get_fields<WitnessVerdictState>);
}

RefclockState refclock_from_json(const Json& in) {
    RefclockState rc;
    get_fields(in, rc);
    get_object(member(in, "last_sample"), rc.last_sample, get_fields<LastSample>);
    // The source's part, by its kind, before its counters are read into it.
    if (rc.source == "nmea") {
        NmeaState& nmea = rc.nmea.emplace();
        get_object(member(in, "nmea_arrival"), nmea.arrival, get_arrival);
        get_object(member(in, "pps_latency"), nmea.pps_latency, get_fields<PpsLatency>);
        get_object(member(in, "ubx_receiver"), nmea.receiver, get_fields<UbxReceiver>);
        get_object(member(in, "witness"), nmea.witness, get_witness);
    } else if (rc.source == "pps") {
        PpsState& pps = rc.pps.emplace();
        get_object(member(in, "pps_quantization"), pps.quantization, get_fields<PpsQuantization>);
        get_object(member(in, "witness"), pps.witness, get_witness);
    }
    const Json& counters = member(in, "counters");
    RefclockState::counters(rc, [&counters](const CounterInfo& info, auto& value) {
        read(member(counters, info.name), value);
    });
    const Json& history = member(in, "history");
    if (history.is_array()) {
        auto& points = rc.history.emplace();
        for (const Json& point : history) {
            if (point.is_array() && point.size() >= 2 && point[0].is_number() &&
                point[1].is_number()) {
                SecondHistory::Point each;
                read(point[0], each.unix_s);
                read(point[1], each.value);
                points.push_back(each);
            }
        }
    }
    return rc;
}

} // namespace

Json to_json(const DaemonState& state) {
    Json out = Json::object();
    put_fields(out, state);
    Json refclocks = Json::array();
    for (const RefclockState& rc : state.refclocks) {
        refclocks.push_back(refclock_json(rc));
    }
    out["refclocks"] = std::move(refclocks);
    return out;
}

DaemonState daemon_state_from_json(const Json& json) {
    DaemonState state;
    get_fields(json, state);
    const Json& refclocks = member(json, "refclocks");
    if (refclocks.is_array()) {
        for (const Json& rc : refclocks) {
            state.refclocks.push_back(refclock_from_json(rc));
        }
    }
    return state;
}

} // namespace shmrefclock
