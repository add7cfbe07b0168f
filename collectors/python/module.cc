// The _tensortap extension module: the few types and constants the tensortap package (the Python
// API in tensortap/) builds on. Everything a user calls is in Python; this file only exposes the
// session of python_session.h and the C API's dtype, kind and role codes.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "collectors/python/python_session.h"

#ifndef TTAP_VERSION_STRING
#define TTAP_VERSION_STRING "0.0.0"
#endif

namespace py = pybind11;
using ttap::python::python_session;

PYBIND11_MODULE(_tensortap, m) {
  m.doc() = "tensortap's compiled core; use the tensortap package";
  m.attr("__version__") = TTAP_VERSION_STRING;
  py::register_exception<ttap::python::status_error>(m, "TensorTapError", PyExc_RuntimeError);

  m.attr("F32") = int(TTAP_F32);
  m.attr("F16") = int(TTAP_F16);
  m.attr("BF16") = int(TTAP_BF16);
  m.attr("F8_E4M3") = int(TTAP_F8_E4M3);
  m.attr("F8_E5M2") = int(TTAP_F8_E5M2);
  m.attr("F64") = int(TTAP_F64);
  m.attr("GRAD") = int(TTAP_GRAD);
  m.attr("PARAM") = int(TTAP_PARAM);
  m.attr("ACTIVATION") = int(TTAP_ACTIVATION);
  m.attr("OTHER") = int(TTAP_OTHER);
  m.attr("COLLECTIVE") = int(TTAP_COLLECTIVE);
  m.attr("ROLE_AUTO") = int(TTAP_ROLE_AUTO);
  m.attr("ROLE_CONTRIBUTION") = int(TTAP_ROLE_CONTRIBUTION);
  m.attr("ROLE_REPLICATED") = int(TTAP_ROLE_REPLICATED);
  m.attr("ROLE_SHARDED") = int(TTAP_ROLE_SHARDED);

  m.def("effective_config", &ttap::python::effective_config, py::arg("run_dir"),
        py::arg("options"));

  py::class_<python_session>(m, "Session")
      .def(py::init<const std::optional<std::string> &, const std::string &, py::object,
                    py::object>(),
           py::arg("run_dir"), py::arg("options"), py::arg("describe"), py::arg("warn"))
      .def("add_watched", &python_session::add_watched, py::arg("name"), py::arg("owner"),
           py::arg("from_grad"), py::arg("kind"), py::arg("local_shard") = false,
           py::arg("role") = int(TTAP_ROLE_AUTO))
      .def("remove_watched", &python_session::remove_watched, py::arg("index"))
      .def("bound_names", &python_session::bound_names)
      .def("step", &python_session::step, py::arg("step"), py::arg("current_stream"))
      .def("observe", &python_session::observe, py::arg("name"), py::arg("ptr"), py::arg("dtype"),
           py::arg("numel"), py::arg("kind"), py::arg("step"), py::arg("stream"))
      .def("log_scalar", &python_session::log_scalar, py::arg("name"), py::arg("value"),
           py::arg("step"))
      .def("set_group", &python_session::set_group, py::arg("kind"), py::arg("comm"))
      .def("run_dir", &python_session::run_dir)
      .def("verdict", &python_session::verdict, py::arg("step"))
      .def("take_alerts", &python_session::take_alerts)
      .def("flush", &python_session::flush)
      .def("close", &python_session::close)
      .def_property_readonly("closed", &python_session::closed);
}
