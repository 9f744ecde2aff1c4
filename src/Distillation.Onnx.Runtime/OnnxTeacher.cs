using System.Security.Cryptography;
using System.Text;
using Distillation.Training;
using Microsoft.ML.OnnxRuntime;
using TensorElementType = Microsoft.ML.OnnxRuntime.Tensors.TensorElementType;
using TorchSharp;
using static TorchSharp.torch;

namespace Distillation.Onnx.Runtime;

/// <summary>
/// An ONNX model as a frozen teacher: each forward pass copies the float32 batch to ONNX Runtime,
/// runs the model and returns its logits as a float32 tensor on the input's device. The model
/// takes one float32 input (normalized images, as the student sees them) and its chosen output is
/// [batch, classes]. It supplies logits only, so feature terms are refused before training; the
/// teacher-output cache and checkpoints know it by the SHA-256 of the model file (and output name).
/// A model with several outputs needs the logits' output named.
/// </summary>
/// <example>
/// <code>
/// using var teacher = new OnnxTeacher("teacher.onnx");
/// var trainer = new Trainer&lt;OnnxTeacher, StudentNet&gt;(teacher, new StudentNet());
/// trainer.Distill(train, test);
/// </code>
/// </example>
public sealed class OnnxTeacher : ITeacher
{
    private readonly InferenceSession session;
    private readonly RunOptions runOptions = new();
    private readonly int[] inputDimensions;

    /// <summary>Loads the model into an ONNX Runtime session.</summary>
    /// <param name="modelPath">The .onnx file.</param>
    /// <param name="outputName">The output holding the logits; null for the model's only output.</param>
    /// <param name="threads">ONNX Runtime's threads within an operator; 0 for its default, one per physical core.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="threads"/> is negative.</exception>
    /// <exception cref="ArgumentException"><paramref name="modelPath"/> is empty, <paramref name="outputName"/> is not an output of the model, or it is null and the model has several outputs (the message lists them).</exception>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">ONNX Runtime cannot load the file, or the model does not take exactly one float32 input or its output is not float32; the message names the file.</exception>
    /// <exception cref="DllNotFoundException">The native ONNX Runtime is missing: add the Microsoft.ML.OnnxRuntime package to the application.</exception>
    public OnnxTeacher(string modelPath, string? outputName = null, int threads = 0)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        ArgumentOutOfRangeException.ThrowIfNegative(threads);
        ModelPath = Path.GetFullPath(modelPath);
        if (!File.Exists(ModelPath))
        {
            throw new FileNotFoundException($"The ONNX teacher {ModelPath} does not exist.", ModelPath);
        }

        session = Open(ModelPath, threads);
        try
        {
            if (session.InputMetadata.Count != 1)
            {
                throw new InvalidDataException($"The ONNX teacher {ModelPath} takes {session.InputMetadata.Count} inputs ({string.Join(", ", session.InputMetadata.Keys)}); a teacher takes exactly one, the images.");
            }

            var (input, inputMetadata) = session.InputMetadata.Single();
            if (inputMetadata.ElementDataType != TensorElementType.Float)
            {
                throw new InvalidDataException($"The ONNX teacher {ModelPath} takes '{input}' as {inputMetadata.ElementDataType}; a teacher takes float32 images.");
            }

            if (outputName is null && session.OutputMetadata.Count > 1)
            {
                throw new ArgumentException(
                    $"The ONNX teacher {ModelPath} has {session.OutputMetadata.Count} outputs ({string.Join(", ", session.OutputMetadata.Keys)}); name the one that holds the logits.", nameof(outputName));
            }

            OutputName = outputName ?? session.OutputMetadata.Keys.First();
            if (!session.OutputMetadata.TryGetValue(OutputName, out var outputMetadata))
            {
                throw new ArgumentException($"The ONNX teacher {ModelPath} has no output '{OutputName}'; its outputs: {string.Join(", ", session.OutputMetadata.Keys)}.", nameof(outputName));
            }

            if (outputMetadata.ElementDataType != TensorElementType.Float)
            {
                throw new InvalidDataException($"The ONNX teacher {ModelPath} gives '{OutputName}' as {outputMetadata.ElementDataType}; logits must be float32.");
            }

            InputName = input;
            inputDimensions = inputMetadata.Dimensions;
            Fingerprint = FingerprintOf(ModelPath, OutputName);
        }
        catch
        {
            session.Dispose();
            runOptions.Dispose();
            throw;
        }
    }

    /// <summary>The model file's full path.</summary>
    public string ModelPath { get; }

    /// <summary>The model's input name.</summary>
    public string InputName { get; }

    /// <summary>The output read as logits.</summary>
    public string OutputName { get; }

    /// <summary>The SHA-256 of the model file and the output name, as lowercase hex.</summary>
    public string Fingerprint { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The loss reads the teacher's features: an ONNX model gives logits only.</exception>
    public TeacherPreparation Prepare(TeacherRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(disposed, this);
        request.ThrowIfFeaturesRequested(nameof(OnnxTeacher));
        return new TeacherPreparation();
    }

    /// <summary>Runs the model on a batch.</summary>
    /// <param name="batch">The images, on any device; converted to float32.</param>
    /// <returns>The logits, float32, on the images' device.</returns>
    /// <exception cref="ArgumentException">The batch's shape does not fit the model's input; the message names both.</exception>
    /// <exception cref="ObjectDisposedException">The teacher was disposed.</exception>
    public TeacherOutput Forward(TeacherBatch batch)
    {
        ArgumentNullException.ThrowIfNull(batch);
        return new TeacherOutput(Run(batch.Images), EmptyFeatures);
    }

    /// <summary>This teacher when asked for it; null otherwise (it holds no TorchSharp module).</summary>
    /// <param name="serviceType">The type asked for.</param>
    /// <returns>This teacher, or null.</returns>
    public object? GetService(Type serviceType)
    {
        ArgumentNullException.ThrowIfNull(serviceType);
        return serviceType.IsInstanceOfType(this) ? this : null;
    }

    private static readonly IReadOnlyDictionary<string, Tensor> EmptyFeatures = new Dictionary<string, Tensor>();

    private Tensor Run(Tensor input)
    {
        ArgumentNullException.ThrowIfNull(input);
        ObjectDisposedException.ThrowIf(disposed, this);
        CheckShape(input.shape);
        using var scope = NewDisposeScope();
        var batch = input.detach().to(ScalarType.Float32).cpu().contiguous().data<float>().ToArray();
        using var inputValue = OrtValue.CreateTensorValueFromMemory(batch, input.shape);
        using var outputs = session.Run(runOptions, [InputName], [inputValue], [OutputName]);
        var output = outputs[0];
        var shape = output.GetTensorTypeAndShape().Shape;
        var logits = tensor(output.GetTensorDataAsSpan<float>().ToArray(), shape, ScalarType.Float32).to(input.device);
        return logits.MoveToOuterDisposeScope();
    }

    private bool disposed;

    /// <summary>Closes the ONNX Runtime session.</summary>
    public void Dispose()
    {
        if (!disposed)
        {
            disposed = true;
            session.Dispose();
            runOptions.Dispose();
        }
    }

    private static InferenceSession Open(string path, int threads)
    {
        try
        {
            using var options = new SessionOptions { IntraOpNumThreads = threads };
            return new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException e)
        {
            throw new InvalidDataException($"ONNX Runtime cannot load the teacher {path}: {e.Message}", e);
        }
        catch (Exception e) when (e is DllNotFoundException or TypeInitializationException or EntryPointNotFoundException)
        {
            throw new DllNotFoundException("The native ONNX Runtime was not found: add the Microsoft.ML.OnnxRuntime package (or a GPU build of it) to the application.", e);
        }
    }

    private static string FingerprintOf(string path, string outputName)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using (var stream = File.OpenRead(path))
        {
            var buffer = new byte[1 << 20];
            int read;
            while ((read = stream.Read(buffer)) > 0)
            {
                hash.AppendData(buffer, 0, read);
            }
        }

        hash.AppendData(Encoding.UTF8.GetBytes("|" + outputName));
        return Convert.ToHexString(hash.GetHashAndReset()).ToLowerInvariant();
    }

    private void CheckShape(long[] shape)
    {
        // A dimension of -1 (or 0 from a symbolic name) is dynamic, such as the batch.
        var fits = shape.Length == inputDimensions.Length
            && shape.Zip(inputDimensions).All(p => p.Second <= 0 || p.First == p.Second);
        if (!fits)
        {
            throw new ArgumentException(
                $"The ONNX teacher {ModelPath} takes '{InputName}' of shape [{string.Join(", ", inputDimensions.Select(d => d <= 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}], not [{string.Join(", ", shape)}].",
                nameof(shape));
        }
    }
}
