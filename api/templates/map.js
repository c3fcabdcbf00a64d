// The map's live part: cameras and coverage from the view (asked again every few seconds),
// open alerts from the stream (Server-Sent Events). Text is set as text, never as markup.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("map-config").textContent);
  const words = config.words;
  const frame = config.frame;
  const SVG = "http://www.w3.org/2000/svg";
  const alerts = new Map();
  let view = null;
  let picked = null;

  function xy(point) {
    return [(point[1] - frame.west) * frame.per_lon, (frame.north - point[0]) * frame.per_lat];
  }
  function kind(status) {
    return status === "online" || status === "offline" || status === "unknown" ? status : "trouble";
  }
  function bin(percent) {
    if (percent === null) return "none";
    if (percent < 25) return "0";
    if (percent < 50) return "1";
    if (percent < 75) return "2";
    if (percent < 90) return "3";
    return "4";
  }
  function element(name, text, className) {
    const made = document.createElement(name);
    if (text !== undefined) made.textContent = text;
    if (className) made.className = className;
    return made;
  }
  function age(iso) {
    const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (seconds < 60) return seconds + " s " + words.ago;
    if (seconds < 3600) return Math.floor(seconds / 60) + " min " + words.ago;
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h " + words.ago;
    return Math.floor(seconds / 86400) + " d " + words.ago;
  }

  function drawCameras() {
    const layer = document.getElementById("cameras");
    const dots = [];
    for (const camera of view.cameras) {
      if (!camera.point) continue;
      const [x, y] = xy(camera.point);
      const dot = document.createElementNS(SVG, "circle");
      dot.setAttribute("cx", x.toFixed(1));
      dot.setAttribute("cy", y.toFixed(1));
      dot.setAttribute("r", "4");
      dot.setAttribute("class", "cam " + kind(camera.status));
      dot.dataset.cameraId = camera.camera_id;
      dot.dataset.status = camera.status;
      dots.push(dot);
    }
    layer.replaceChildren(...dots);
  }

  function drawCoverage() {
    const byName = new Map(view.coverage.map((area) => [area.kecamatan, area]));
    for (const path of document.querySelectorAll("path.area")) {
      const area = byName.get(path.dataset.name);
      const percent = area ? area.percent : null;
      path.setAttribute("class", "area cov-" + bin(percent) + (path.dataset.name === picked ? " picked" : ""));
      path.dataset.percent = percent === null ? "" : String(percent);
      path.dataset.registered = area ? String(area.registered) : "0";
    }
  }

  function alertItem(alert) {
    const item = element("li", undefined, "alert");
    item.id = "alert-" + alert.alert_id;
    item.dataset.alertId = alert.alert_id;
    item.appendChild(element("div", alert.title, "alert-title"));
    const where = [alert.camera_name || alert.camera_id, alert.kelurahan, alert.kecamatan].filter(Boolean).join(", ");
    item.appendChild(element("div", where, "small"));
    const line = element("div", undefined, "small");
    line.appendChild(element("span", alert.agencies.join(", "), "agencies"));
    line.appendChild(document.createTextNode(" · "));
    const when = element("span", age(alert.opened_at), "age");
    when.dataset.opened = alert.opened_at;
    line.appendChild(when);
    item.appendChild(line);
    return item;
  }

  function drawAlerts() {
    const open = [...alerts.values()].sort((a, b) => Date.parse(b.opened_at) - Date.parse(a.opened_at));
    document.getElementById("alerts").replaceChildren(...open.map(alertItem));
    document.getElementById("no-alerts").hidden = open.length > 0;
    const marks = [];
    for (const alert of open) {
      if (!alert.point) continue;
      const [x, y] = xy(alert.point);
      const mark = document.createElementNS(SVG, "circle");
      mark.setAttribute("cx", x.toFixed(1));
      mark.setAttribute("cy", y.toFixed(1));
      mark.setAttribute("r", "7");
      mark.setAttribute("class", "alert-mark");
      mark.dataset.alertId = alert.alert_id;
      marks.push(mark);
    }
    document.getElementById("alert-marks").replaceChildren(...marks);
  }

  function drawPanel() {
    if (picked === null) return;
    document.getElementById("panel-title").textContent = picked;
    const area = view ? view.coverage.find((a) => a.kecamatan === picked) : null;
    document.getElementById("panel-coverage").textContent = area
      ? area.registered + " " + words.registered + " · " + area.online + " " + words.online_count +
        (area.percent === null ? "" : " · " + area.percent + "%")
      : "";
    const inArea = [...alerts.values()].filter((a) => a.kecamatan === picked);
    document.getElementById("panel-alerts").replaceChildren(...inArea.map(alertItem));
    const cameras = view ? view.cameras.filter((c) => c.kecamatan === picked) : [];
    document.getElementById("panel-cameras").replaceChildren(
      ...cameras.map((camera) => {
        const item = element("li", undefined, "camera");
        item.dataset.cameraId = camera.camera_id;
        item.appendChild(element("span", "", "dot " + kind(camera.status)));
        item.appendChild(document.createTextNode(camera.name + " · " + (words[kind(camera.status)] || camera.status)));
        return item;
      })
    );
  }

  async function refresh() {
    try {
      const answer = await fetch(config.view, { credentials: "same-origin", cache: "no-store" });
      if (answer.status === 401) {
        location.reload();
        return;
      }
      if (!answer.ok) return;
      view = await answer.json();
      drawCameras();
      drawCoverage();
      drawPanel();
      document.body.dataset.viewAt = view.at;
    } catch (error) {
      // The next refresh tries again.
    }
  }

  for (const path of document.querySelectorAll("path.area")) {
    path.addEventListener("click", () => {
      picked = path.dataset.name;
      for (const other of document.querySelectorAll("path.area")) other.classList.toggle("picked", other === path);
      drawPanel();
    });
  }

  const stream = new EventSource(config.stream);
  const state = document.getElementById("link-state");
  stream.onopen = () => { state.textContent = "● " + words.live; };
  stream.onerror = () => { state.textContent = "○ " + words.reconnecting; };
  stream.addEventListener("alerts", (event) => {
    alerts.clear();
    for (const alert of JSON.parse(event.data)) alerts.set(alert.alert_id, alert);
    drawAlerts();
    drawPanel();
    document.body.dataset.streaming = "yes";
  });
  stream.addEventListener("alert", (event) => {
    const alert = JSON.parse(event.data);
    alerts.set(alert.alert_id, alert);
    drawAlerts();
    drawPanel();
  });
  stream.addEventListener("resolved", (event) => {
    alerts.delete(JSON.parse(event.data).alert_id);
    drawAlerts();
    drawPanel();
  });

  setInterval(() => {
    for (const when of document.querySelectorAll("span.age")) when.textContent = age(when.dataset.opened);
  }, 5000);
  setInterval(refresh, config.refresh_s * 1000);
  refresh();
})();
