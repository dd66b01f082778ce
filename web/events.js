/* Lucarne's automatic events, opt-in beside script.js, each by an attribute of this tag:
   data-outbound-links ("Outbound Link: Click", props.url), data-file-downloads ("File
   Download", props.url without the query; a list of extensions may be given),
   data-form-submissions ("Form: Submission"), data-tagged-events (elements with
   Plausible's classes plausible-event-name=NAME and plausible-event-KEY=VALUE, "+" for a
   space), data-404 (a "404" event with props.path, for a not-found page). Plausible's
   names and props, so reports and goals carry over. Sends only through the tracker. */
!function(w,d){
var s=d.currentScript,l=w.location;
if(!s||w.lucarneEvents)return;w.lucarneEvents=1;
function on(k){return s.hasAttribute("data-"+k)}
function send(n,p){w.lucarne&&w.lucarne(n,p?{props:p}:{})}
var ext=(s.getAttribute("data-file-downloads")||"").split(",").filter(Boolean);
if(!ext.length)ext="pdf xlsx docx txt rtf csv exe key pps ppt pptx 7z pkg rar gz zip avi mov mp4 mpeg wmv midi mp3 wav wma dmg".split(" ");
// the element itself or an ancestor (3 levels) matching f
function up(e,f){for(var i=0;e&&i<4;i++,e=e.parentNode)if(e.nodeType==1&&f(e))return e}
function tag(e){return/(^|\s)plausible-event-name[=-]{1,2}\S/.test(e.className||"")}
function tagged(e){
 var n,p={};
 (e.className||"").split(/\s+/).forEach(function(c){
  var m=c.match(/^plausible-event-(.+?)(=|--)(.+)$/);
  if(m){var v=m[3].replace(/\+/g," ");m[1]=="name"?n=v:p[m[1]]=v}
 });
 return n&&send(n,p)
}
function click(e){
 if(e.type=="auxclick"&&e.button!=1)return;
 var a=up(e.target,function(x){return x.tagName=="A"&&x.href}),t=on("tagged-events")&&up(e.target,tag),u;
 if(t)return tagged(t);
 if(!a)return;
 u=a.href.split("?")[0].split("#")[0];
 if(on("outbound-links")&&a.host&&a.host!=l.host)send("Outbound Link: Click",{url:a.href});
 else if(on("file-downloads")&&ext.indexOf(u.split(".").pop().toLowerCase())>=0&&/\.[^/]+$/.test(u))send("File Download",{url:u})
}
d.addEventListener("click",click);d.addEventListener("auxclick",click);
d.addEventListener("submit",function(e){
 var f=e.target;
 if(on("tagged-events")&&tag(f))return tagged(f);
 on("form-submissions")&&(f.hasAttribute("novalidate")||f.checkValidity())&&send("Form: Submission")
},!0);
on("404")&&send("404",{path:l.pathname})
}(window,document);
