/* The REST API page: search, anchors, forms that POST with the session's CSRF proof, answers, jobs.
   Inlined by index.html (no network asset). Everything about an endpoint comes from the page's markup,
   which is generated from the registry. Note for editors: this file is a Jinja include, so never write
   two opening braces in a row, nor a brace followed by '%' or '#'. */
(function () {
  "use strict";

  var page = document.getElementById("rest-api-page");
  if (!page) return;
  var API_URL = new URL(page.dataset.apiUrl, window.location.href).toString();
  var TOKEN_HEADER = page.dataset.tokenHeader || "rest_api_plugin_http_token";
  var POLL_MS = 1500;
  var LOG_LINES = 200;
  var CSRF = typeof csrfToken === "string" ? csrfToken : "";
  var endpoints = Array.prototype.slice.call(page.querySelectorAll(".rest-api-endpoint"));
  var mayStopJobs = !!document.getElementById("endpoint-stop_job");
  var mayReadJobs = !!document.getElementById("endpoint-jobs");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === "text") node.textContent = attrs[name];
      else if (name === "className") node.className = attrs[name];
      else node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  // --- expand / collapse, anchors ---

  function setExpanded(article, expanded) {
    var toggle = article.querySelector(".rest-api-toggle");
    toggle.setAttribute("aria-expanded", expanded ? "true" : "false");
    document.getElementById(toggle.getAttribute("aria-controls")).hidden = !expanded;
  }

  page.addEventListener("click", function (event) {
    var toggle = event.target.closest(".rest-api-toggle");
    if (toggle) {
      var article = toggle.closest(".rest-api-endpoint");
      setExpanded(article, toggle.getAttribute("aria-expanded") !== "true");
    }
  });

  document.getElementById("rest-api-expand-all").addEventListener("click", function () {
    endpoints.forEach(function (article) { if (!article.hidden) setExpanded(article, true); });
  });
  document.getElementById("rest-api-collapse-all").addEventListener("click", function () {
    endpoints.forEach(function (article) { setExpanded(article, false); });
  });

  function showFromHash() {
    var id;
    try { id = decodeURIComponent(window.location.hash.slice(1)); } catch (e) { return; }
    if (id.indexOf("endpoint-") !== 0) return;
    var article = document.getElementById(id);
    if (!article || !article.classList.contains("rest-api-endpoint")) return;
    if (article.hidden) { search.value = ""; filter(); }
    setExpanded(article, true);
    article.scrollIntoView({ block: "start" });
    article.querySelector(".rest-api-toggle").focus({ preventScroll: true });
  }
  window.addEventListener("hashchange", showFromHash);

  // --- search ---

  var search = document.getElementById("rest-api-search");
  var status = document.getElementById("rest-api-search-status");
  var noMatch = document.getElementById("rest-api-no-match");

  function filter() {
    var words = search.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    endpoints.forEach(function (article) {
      var text = article.dataset.search;
      var match = words.every(function (word) { return text.indexOf(word) !== -1; });
      article.hidden = !match;
      if (match) shown += 1;
    });
    page.querySelectorAll(".rest-api-group").forEach(function (section) {
      var visible = section.querySelectorAll(".rest-api-endpoint:not([hidden])").length;
      section.hidden = visible === 0;
      var pill = page.querySelector('.rest-api-groups-nav li[data-group="' + section.dataset.group + '"]');
      if (pill) pill.hidden = visible === 0;
    });
    noMatch.hidden = shown !== 0;
    status.textContent = words.length
      ? shown + " of " + endpoints.length + " endpoints match"
      : endpoints.length + " endpoints";
  }
  search.addEventListener("input", filter);
  search.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && search.value) { search.value = ""; filter(); }
  });

  // --- forms ---

  function isoDateTime(value) {
    // datetime-local gives 2024-01-02T03:04 or 2024-01-02T03:04:05(.sss): send ISO 8601 with seconds.
    return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value) ? value + ":00" : value;
  }

  function checkJson(form) {
    var firstBad = null;
    form.querySelectorAll("textarea[data-json]").forEach(function (area) {
      var group = area.closest(".rest-api-argument");
      var error = document.getElementById(area.id + "-error");
      var message = "";
      if (area.value.trim()) {
        try {
          var parsed = JSON.parse(area.value);
          if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
            message = area.name + " must be a JSON object, e.g. {\"key\": \"value\"}.";
          }
        } catch (err) {
          message = area.name + " is not valid JSON: " + err.message + ". Nothing was sent.";
        }
      }
      error.textContent = message;
      error.hidden = !message;
      group.classList.toggle("has-error", !!message);
      area.setAttribute("aria-invalid", message ? "true" : "false");
      if (message && !firstBad) firstBad = area;
    });
    if (firstBad) firstBad.focus();
    return !firstBad;
  }

  // The arguments to send: [name, value] pairs, value a string or a File. Empty fields are not sent.
  function argumentsOf(form) {
    var pairs = [];
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.disabled) return;
      if (field.type === "checkbox") {
        // Checked sends true; unchecked sends nothing, or false when the argument defaults to true.
        if (field.checked) pairs.push([field.name, "true"]);
        else if (field.dataset.default === "true") pairs.push([field.name, "false"]);
      } else if (field.type === "file") {
        if (field.files && field.files.length) pairs.push([field.name, field.files[0]]);
      } else if (field.value.trim() !== "") {
        var value = field.type === "datetime-local" ? isoDateTime(field.value) : field.value;
        pairs.push([field.name, field.type === "textarea" ? value : value.trim()]);
      }
    });
    return pairs;
  }

  function shellQuote(text) {
    return "'" + String(text).replace(/'/g, "'\\''") + "'";
  }

  // The same call from a script: the token header (a placeholder, never a real token), ordinary
  // arguments in the query string, uploads as multipart parts (-F).
  function curlCommand(api, pairs) {
    var query = new URLSearchParams();
    query.append("api", api);
    var parts = ["curl", "-H", shellQuote(TOKEN_HEADER + ": YOUR_TOKEN")];
    pairs.forEach(function (pair) {
      if (pair[1] instanceof File) parts.push("-F", shellQuote(pair[0] + "=@" + pair[1].name));
      else query.append(pair[0], pair[1]);
    });
    parts.push(shellQuote(API_URL + "?" + query.toString()));
    return parts.join(" ");
  }

  function post(api, pairs, multipart) {
    var url = API_URL + "?api=" + encodeURIComponent(api);
    var body;
    if (multipart) {
      body = new FormData();
      pairs.forEach(function (pair) { body.append(pair[0], pair[1]); });
    } else {
      body = new URLSearchParams();
      pairs.forEach(function (pair) { body.append(pair[0], pair[1]); });
    }
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      // Airflow 2 checks the session's CSRF token; Airflow 3 this header, which no other site's page can add
      headers: { "X-CSRFToken": CSRF, "X-Requested-With": "XMLHttpRequest", Accept: "application/json" },
    }).then(function (response) {
      return response.text().then(function (text) {
        var envelope = null;
        try { envelope = JSON.parse(text); } catch (err) { envelope = null; }
        return { status: response.status, ok: response.ok, envelope: envelope, text: text,
                 redirected: response.redirected };
      });
    });
  }

  function statusLabel(answer) {
    var ok = answer.envelope && answer.envelope.status === "OK";
    return el("span", { className: "label " + (ok ? "label-success" : "label-danger"),
                        text: "HTTP " + answer.status });
  }

  function copyButton(source) {
    var button = el("button", { type: "button", className: "btn btn-default btn-sm rest-api-copy",
                                text: "Copy" });
    button.addEventListener("click", function () {
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.textContent).then(done, function () { selectText(source); });
      } else {
        selectText(source);
        try { if (document.execCommand("copy")) done(); } catch (err) { /* selected: copy by hand */ }
      }
    });
    return button;
  }

  function selectText(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function appendCurl(box, api, pairs) {
    box.appendChild(el("h5", { text: "The same call with curl" }));
    var curl = el("pre", { className: "rest-api-curl", text: curlCommand(api, pairs) });
    box.appendChild(el("div", { className: "rest-api-curl-row" }, [curl, copyButton(curl)]));
  }

  // output is a string, or the command's streams {stdout, stderr, stdin} (output_format streams*)
  function appendOutput(box, output) {
    if (output === undefined || output === null || output === "") return;
    if (typeof output === "string") {
      box.appendChild(el("h5", { text: "Output" }));
      box.appendChild(el("pre", { className: "rest-api-output", tabindex: "0", text: output }));
      return;
    }
    box.appendChild(el("h5", { text: "Output (stdout)" }));
    box.appendChild(el("pre", { className: "rest-api-output", tabindex: "0", text: output.stdout || "" }));
    if (output.stderr) {
      box.appendChild(el("h5", { text: "stderr" }));
      box.appendChild(el("pre", { className: "rest-api-output rest-api-stderr", tabindex: "0", text: output.stderr }));
    }
  }

  // show_dag format=svg: the picture Graphviz drew, as an image (an <img> runs no script the SVG might hold)
  function appendPicture(box, data) {
    if (!data || typeof data !== "object" || typeof data.svg !== "string") return;
    var bytes = new TextEncoder().encode(data.svg), binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    box.appendChild(el("h5", { text: "Graph" }));
    box.appendChild(el("img", { className: "rest-api-picture", src: "data:image/svg+xml;base64," + btoa(binary),
                                alt: "The graph of DAG " + (data.dag_id || "") }));
  }

  function renderAnswer(box, api, pairs, answer) {
    box.textContent = "";
    var envelope = answer.envelope;
    var head = el("div", { className: "rest-api-status" }, [
      statusLabel(answer),
      el("strong", { className: "rest-api-envelope-status",
                     text: envelope ? envelope.status : "Not a JSON answer" }),
    ]);
    box.appendChild(head);
    if (!envelope) {
      var hint = answer.redirected
        ? "The webserver answered with a page instead of JSON: your session may have ended. Reload the page and sign in."
        : "The webserver did not answer with the plugin's JSON envelope.";
      box.appendChild(el("p", { className: "text-danger", text: hint }));
      box.appendChild(el("pre", { className: "rest-api-raw", text: answer.text.slice(0, 5000) }));
      appendCurl(box, api, pairs);
    } else {
      if (envelope.airflow_cmd) {
        box.appendChild(el("h5", { text: "airflow_cmd" }));
        box.appendChild(el("pre", { className: "rest-api-airflow-cmd", text: envelope.airflow_cmd }));
      }
      if (envelope.warning) {
        box.appendChild(el("p", { className: "alert alert-warning rest-api-warning", text: envelope.warning }));
      }
      var job = envelope.data && typeof envelope.data === "object" && envelope.data.job_id ? envelope.data : null;
      if (job) box.appendChild(jobPanel(job));
      appendCurl(box, api, pairs);
      appendPicture(box, envelope.data);
      appendOutput(box, envelope.output);
      box.appendChild(el("h5", { text: "Response envelope" }));
      box.appendChild(el("pre", { className: "rest-api-envelope", tabindex: "0",
                                  text: JSON.stringify(envelope, null, 2) }));
    }
    box.hidden = false;
  }

  page.addEventListener("submit", function (event) {
    var form = event.target.closest(".rest-api-form");
    if (!form) return;
    event.preventDefault();
    if (!form.reportValidity()) return;
    if (!checkJson(form)) return; // invalid JSON: a clear message, and no request at all
    var api = form.dataset.endpoint;
    var pairs = argumentsOf(form);
    var box = form.parentNode.querySelector(".rest-api-result");
    var submit = form.querySelector(".rest-api-submit");
    submit.disabled = true;
    form.setAttribute("aria-busy", "true");
    post(api, pairs, form.dataset.multipart === "true")
      .then(function (answer) { renderAnswer(box, api, pairs, answer); })
      .catch(function (err) {
        box.textContent = "";
        box.appendChild(el("p", { className: "alert alert-danger", text: "The request failed: " + err.message }));
        box.hidden = false;
      })
      .then(function () {
        submit.disabled = false;
        form.removeAttribute("aria-busy");
      });
  });

  page.addEventListener("reset", function (event) {
    var form = event.target.closest(".rest-api-form");
    if (!form) return;
    form.querySelectorAll(".rest-api-json-error").forEach(function (error) { error.hidden = true; });
    form.querySelectorAll(".has-error").forEach(function (group) { group.classList.remove("has-error"); });
  });

  // Ctrl+Enter (or Cmd+Enter) in a JSON box submits its form, as Enter does in the other fields.
  page.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.matches("textarea")) {
      event.preventDefault();
      event.target.form.requestSubmit();
    }
  });

  // "Fill in the example": the registry's example query string, into the form.
  page.addEventListener("click", function (event) {
    var button = event.target.closest(".rest-api-fill-example");
    if (!button) return;
    var form = button.closest(".rest-api-form");
    form.reset();
    var example = new URLSearchParams(button.closest(".rest-api-endpoint").dataset.example);
    example.forEach(function (value, name) {
      var field = form.elements.namedItem(name);
      if (!field || field.type === "file") return;
      var details = field.closest("details");
      if (details) details.open = true;
      if (field.type === "checkbox") field.checked = !/^(false|0|off|no|n|f)$/i.test(value);
      else if (field.type === "datetime-local") field.value = /T/.test(value) ? value.slice(0, 19) : value + "T00:00:00";
      else field.value = value;
    });
    var first = form.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  });

  // --- background jobs ---

  var STATE_CLASS = { running: "label-info", success: "label-success", failed: "label-danger",
                      killed: "label-warning", lost: "label-default" };

  // One of a job's output streams: a heading and its text, kept scrolled to the end while it grows.
  function streamBox(name, label) {
    var heading = el("h6", { className: "rest-api-job-stream-name", text: name });
    var text = el("pre", { className: "rest-api-job-log rest-api-job-" + name, tabindex: "0", "aria-label": label,
                           text: "(waiting for the output)" });
    var section = el("div", { className: "rest-api-job-stream" }, [heading, text]);
    return {
      section: section,
      show: function (value, empty, title) {
        var atBottom = text.scrollTop + text.clientHeight >= text.scrollHeight - 4;
        heading.textContent = title || name;
        text.textContent = value || empty;
        text.classList.toggle("rest-api-job-empty", !value);
        if (atBottom) text.scrollTop = text.scrollHeight;
      },
    };
  }

  function jobPanel(job) {
    var state = el("span", { className: "label rest-api-job-state" });
    var detail = el("span", { className: "rest-api-job-detail" });
    var note = el("p", { className: "rest-api-job-note text-muted", "aria-live": "polite" });
    var stdout = streamBox("stdout", "Standard output (stdout) of job " + job.job_id);
    var stderr = streamBox("stderr", "Standard error (stderr) of job " + job.job_id);
    var stop = null;
    var head = el("div", { className: "rest-api-job-head" }, [
      el("strong", { text: "Background job " }), el("code", { className: "rest-api-job-id", text: job.job_id }),
      el("span", { text: "state:" }), state, detail,
    ]);
    var panel = el("section", { className: "rest-api-job", "data-job-id": job.job_id,
                                "aria-label": "Background job " + job.job_id },
                    [head, note, stdout.section, stderr.section]);
    if (mayStopJobs) {
      stop = el("button", { type: "button", className: "btn btn-danger btn-sm rest-api-stop-job", text: "Stop job" });
      head.appendChild(stop);
      stop.addEventListener("click", function () {
        stop.disabled = true;
        post("stop_job", [["job_id", job.job_id]], false).then(function (answer) {
          var envelope = answer.envelope;
          note.textContent = envelope ? "stop_job: HTTP " + answer.status + " " + envelope.status + ": " + envelope.output
                                      : "stop_job: HTTP " + answer.status;
          poll();
        }, function (err) { note.textContent = "stop_job failed: " + err.message; stop.disabled = false; });
      });
    }
    var timer = null;

    function show(described) {
      var current = described.state || "running";
      state.textContent = current;
      state.className = "label rest-api-job-state " + (STATE_CLASS[current] || "label-default");
      panel.dataset.state = current;
      var bits = [];
      if (described.exit_code !== undefined && described.exit_code !== null) bits.push("exit code " + described.exit_code);
      if (described.signal) bits.push("signal " + described.signal);
      if (described.pid) bits.push("pid " + described.pid);
      detail.textContent = bits.length ? "(" + bits.join(", ") + ")" : "";
      if (stop) stop.hidden = current !== "running";
      if (typeof described.stdout === "string") {
        if (described.stderr === null) {
          // A job of an earlier version: stdout and stderr in one log, shown as stdout.
          stdout.show(described.stdout, "(the log is empty so far)", "stdout and stderr (one log)");
          stderr.section.hidden = true;
        } else {
          stdout.show(described.stdout, "(nothing on stdout so far)");
          stderr.show(described.stderr, "(nothing on stderr)");
        }
      }
      return current;
    }

    function poll() {
      clearTimeout(timer);
      if (!mayReadJobs) {
        note.textContent = "Your role may not call the jobs endpoint: the state is not refreshed.";
        return;
      }
      if (!panel.isConnected && panel.dataset.started) return; // replaced by a newer answer
      panel.dataset.started = "true";
      post("jobs", [["job_id", job.job_id], ["lines", String(LOG_LINES)]], false).then(function (answer) {
        if (!answer.envelope || answer.envelope.status !== "OK" || !answer.envelope.data) {
          note.textContent = "Could not refresh the job: HTTP " + answer.status +
            (answer.envelope ? " " + answer.envelope.output : "");
          return;
        }
        if (show(answer.envelope.data) === "running") timer = setTimeout(poll, POLL_MS);
      }, function (err) {
        note.textContent = "Could not refresh the job (" + err.message + "), retrying.";
        timer = setTimeout(poll, POLL_MS * 2);
      });
    }

    show(job);
    setTimeout(poll, 0);
    return panel;
  }

  // dag_id inputs suggest the DAGs this user may read (list_dags); once a DAG is chosen, the task_id input of
  // the same form suggests its tasks (list_tasks). Only when the user may call those endpoints.
  function fillChoices(list, values) {
    list.textContent = "";
    values.forEach(function (value) { list.appendChild(el("option", { value: value })); });
  }

  function dataOf(answer) {
    return answer.envelope && answer.envelope.status === "OK" && answer.envelope.data ? answer.envelope.data : null;
  }

  var dagChoices = document.getElementById("rest-api-dag-ids");
  if (dagChoices && document.getElementById("endpoint-list_dags")) {
    post("list_dags", [["output_format", "text"]], false).then(function (answer) {
      var data = dataOf(answer);
      if (data && data.dags) fillChoices(dagChoices, data.dags.map(function (dag) { return dag.dag_id; }));
    }, function () { /* no suggestions: the inputs still take any id */ });
  }

  var mayListTasks = !!document.getElementById("endpoint-list_tasks");
  page.addEventListener("change", function (event) {
    var input = event.target;
    if (!mayListTasks || input.name !== "dag_id") return;
    var form = input.closest(".rest-api-form");
    var task = form ? form.querySelector("input[name=task_id]") : null;
    if (!task || !task.list) return;
    var dagId = input.value.trim();
    fillChoices(task.list, []);
    if (!dagId) return;
    post("list_tasks", [["dag_id", dagId], ["output_format", "text"]], false).then(function (answer) {
      var data = dataOf(answer);
      if (data && data.tasks && input.value.trim() === dagId) {
        fillChoices(task.list, data.tasks.map(function (t) { return t.task_id; }));
      }
    }, function () { /* no suggestions */ });
  });

  filter();
  showFromHash();
})();
